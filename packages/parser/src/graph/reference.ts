/**
 * Image reference checks of distribution/reference's ParseNormalizedNamed, which BuildKit applies to
 * every FROM base and every `--from` that is not a stage: `FROM Builder` (a stage named `builder`)
 * is an invalid reference there, not a stage.
 */
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const HOST = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[(?:[a-fA-F0-9:]+)\\])`;
const NAME = `(?:${HOST}(?::[0-9]+)?/)?${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const REFERENCE = new RegExp(`^(${NAME})(?::([\\w][\\w.-]{0,127}))?(?:@([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}))?$`);

export class ReferenceFormatError extends Error {}

/**
 * Validates `ref` and returns its normalized form with the default tag
 * (`alpine` → `docker.io/library/alpine:latest`), as BuildKit's TagNameOnly(ParseNormalizedNamed(ref)).
 */
export function normalizeImageReference(ref: string): string {
  if (/^[a-f0-9]{64}$/.test(ref)) throw new ReferenceFormatError(`invalid repository name (${ref}), cannot specify 64-byte hexadecimal strings`);
  let domain: string;
  let remainder: string;
  const i = ref.indexOf('/');
  const first = i === -1 ? '' : ref.slice(0, i);
  if (i === -1 || (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first)) {
    domain = 'docker.io';
    remainder = ref;
  } else {
    domain = first;
    remainder = ref.slice(i + 1);
  }
  if (domain === 'index.docker.io') domain = 'docker.io';
  if (domain === 'docker.io' && !remainder.includes('/')) remainder = `library/${remainder}`;
  const colon = remainder.indexOf(':');
  const remote = colon === -1 ? remainder : remainder.slice(0, colon);
  if (remote.toLowerCase() !== remote) throw new ReferenceFormatError(`invalid reference format: repository name (${remote}) must be lowercase`);
  const full = `${domain}/${remainder}`;
  const m = REFERENCE.exec(full);
  if (!m) {
    if (ref === '') throw new ReferenceFormatError('invalid reference format: repository name must have at least one component');
    throw new ReferenceFormatError('invalid reference format');
  }
  if ((m[1] ?? '').length > 255) throw new ReferenceFormatError('invalid reference format: repository name must not be more than 255 characters');
  return m[2] === undefined && m[3] === undefined ? `${full}:latest` : full;
}
