/**
 * Image references, normalized the way Docker does it (distribution/reference's
 * `ParseNormalizedNamed` followed by `TagNameOnly`): `busybox` → `docker.io/library/busybox:latest`.
 */
import type { Digest } from '@build-image/cache';
import { ImageReferenceError } from './errors.js';

/** A parsed, normalized image reference. */
export interface ImageReference {
  /** Registry host (and port), e.g. `docker.io`, `localhost:5000`, `[::1]:5000`. */
  registry: string;
  /** Path inside the registry, e.g. `library/busybox`. */
  repository: string;
  /** Tag; `latest` when neither a tag nor a digest was given. Absent for digest-only references. */
  tag?: string;
  /** Content digest when the reference pins one (`…@sha256:…`). */
  digest?: Digest;
  /** The short form Docker shows: `busybox:latest`, `user/img:1`, `localhost:5000/x@sha256:…`. */
  familiar: string;
}

/** Docker Hub's name in references. */
export const DOCKER_HUB = 'docker.io';
/** Docker Hub's registry API host. */
export const DOCKER_HUB_API_HOST = 'registry-1.docker.io';
const LEGACY_DOCKER_HUB = 'index.docker.io';
const MAX_NAME_LENGTH = 255;

// The grammar of distribution/reference (reference.go), written out as regular expressions.
const alnum = '[a-z0-9]+';
const separator = '(?:[._]|__|[-]+)';
const pathComponent = `${alnum}(?:${separator}${alnum})*`;
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const ipv6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const domainAndPort = `(?:${domainComponent}(?:\\.${domainComponent})*|${ipv6})(?::[0-9]+)?`;
const tagPattern = '[\\w][\\w.-]{0,127}';
const digestPattern = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}';
const namePattern = `(?:${domainAndPort}/)?${pathComponent}(?:/${pathComponent})*`;
const REFERENCE = new RegExp(`^(${namePattern})(?::(${tagPattern}))?(?:@(${digestPattern}))?$`);
const HEX_IDENTIFIER = /^[a-f0-9]{64}$/;
const DIGEST_LENGTHS: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

/**
 * Parses and normalizes an image reference.
 *
 * @throws ImageReferenceError (`E_REFERENCE`) when the reference is not valid.
 * @example
 * ```ts
 * parseReference('busybox');
 * // { registry: 'docker.io', repository: 'library/busybox', tag: 'latest', familiar: 'busybox:latest' }
 * parseReference('localhost:5000/app@sha256:…'); // digest-only: no tag
 * ```
 */
export function parseReference(input: string): ImageReference {
  if (HEX_IDENTIFIER.test(input)) {
    throw new ImageReferenceError(
      input,
      'hex-identifier',
      `invalid repository name (${input}), cannot specify 64-byte hexadecimal strings`,
    );
  }
  if (input === '') throw new ImageReferenceError(input, 'empty', 'invalid reference format: repository name must have at least one component');
  const { domain, remainder } = splitDockerDomain(input);
  const tagSep = remainder.indexOf(':');
  const remoteName = tagSep >= 0 ? remainder.slice(0, tagSep) : remainder;
  if (remoteName.toLowerCase() !== remoteName) {
    throw new ImageReferenceError(input, 'uppercase', `invalid reference format: repository name (${remoteName}) must be lowercase`);
  }
  const full = `${domain}/${remainder}`;
  const m = REFERENCE.exec(full);
  if (!m) {
    if (new RegExp(`^:`).test(remainder) || remainder === '' || remainder.startsWith('@')) {
      throw new ImageReferenceError(input, 'format', `invalid reference format: ${JSON.stringify(input)} has no repository name`);
    }
    const tagLike = /:([^/@]*)(?:@|$)/.exec(remainder.slice(remoteName.length));
    if (tagLike && tagLike[1]!.length > 128) {
      throw new ImageReferenceError(input, 'tag', `invalid reference format: tag in ${JSON.stringify(input)} is longer than 128 characters`);
    }
    throw new ImageReferenceError(input, 'format', `invalid reference format: ${JSON.stringify(input)} (expected [registry/]repository[:tag][@digest], lowercase)`);
  }
  const name = m[1]!;
  if (name.length > MAX_NAME_LENGTH) {
    throw new ImageReferenceError(input, 'name-too-long', `invalid reference format: repository name must not be more than ${MAX_NAME_LENGTH} characters`);
  }
  const repository = name.slice(domain.length + 1);
  let tag = m[2];
  const digest = m[3];
  if (digest !== undefined) validateDigest(input, digest);
  if (tag === undefined && digest === undefined) tag = 'latest';
  const ref: ImageReference = { registry: domain, repository, familiar: '' };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest as Digest;
  ref.familiar = familiarString(ref);
  return ref;
}

function validateDigest(input: string, digest: string): void {
  const i = digest.indexOf(':');
  const algorithm = digest.slice(0, i);
  const hex = digest.slice(i + 1);
  const want = DIGEST_LENGTHS[algorithm];
  if (want === undefined) {
    throw new ImageReferenceError(input, 'digest', `invalid reference format: unsupported digest algorithm ${JSON.stringify(algorithm)} in ${JSON.stringify(input)}`);
  }
  if (hex.length !== want || !/^[0-9a-f]+$/.test(hex)) {
    throw new ImageReferenceError(input, 'digest', `invalid reference format: ${algorithm} digest in ${JSON.stringify(input)} must be ${want} lowercase hex characters`);
  }
}

/** Docker's rule for "is the first path component a registry host?" (`.`, `:`, `localhost` or uppercase). */
function splitDockerDomain(name: string): { domain: string; remainder: string } {
  const i = name.indexOf('/');
  let domain: string;
  let remainder: string;
  if (i === -1 || (!/[.:]/.test(name.slice(0, i)) && name.slice(0, i) !== 'localhost' && name.slice(0, i).toLowerCase() === name.slice(0, i))) {
    domain = DOCKER_HUB;
    remainder = name;
  } else {
    domain = name.slice(0, i);
    remainder = name.slice(i + 1);
  }
  if (domain === LEGACY_DOCKER_HUB) domain = DOCKER_HUB;
  if (domain === DOCKER_HUB && !remainder.includes('/')) remainder = `library/${remainder}`;
  return { domain, remainder };
}

/** `registry/repository` (no tag or digest), e.g. `docker.io/library/busybox`. */
export function referenceName(ref: Pick<ImageReference, 'registry' | 'repository'>): string {
  return `${ref.registry}/${ref.repository}`;
}

/**
 * The fully qualified string: `docker.io/library/busybox:latest`, `host/x:1@sha256:…`.
 * @example `formatReference(parseReference('busybox'))` → `'docker.io/library/busybox:latest'`
 */
export function formatReference(ref: Pick<ImageReference, 'registry' | 'repository' | 'tag' | 'digest'>): string {
  return `${referenceName(ref)}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/**
 * The short form (`FamiliarString`): Docker Hub's domain and `library/` are dropped.
 * @example `familiarString(parseReference('docker.io/library/busybox'))` → `'busybox:latest'`
 */
export function familiarString(ref: Pick<ImageReference, 'registry' | 'repository' | 'tag' | 'digest'>): string {
  let name = referenceName(ref);
  if (ref.registry === DOCKER_HUB) {
    name = ref.repository.startsWith('library/') && ref.repository.split('/').length === 2 ? ref.repository.slice('library/'.length) : ref.repository;
  }
  return `${name}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/**
 * The host to open HTTP connections to for a registry name: Docker Hub's API lives on
 * `registry-1.docker.io`; every other registry is its own host.
 */
export function registryApiHost(registry: string): string {
  return registry === DOCKER_HUB || registry === LEGACY_DOCKER_HUB ? DOCKER_HUB_API_HOST : registry;
}

/** A copy of `ref` pointing at another tag or digest (the other one dropped). */
export function withTag(ref: ImageReference, tag: string): ImageReference {
  const out: ImageReference = { registry: ref.registry, repository: ref.repository, tag, familiar: '' };
  out.familiar = familiarString(out);
  return out;
}

/** A copy of `ref` pinned to `digest` (keeps the tag for display, as Docker does). */
export function withDigest(ref: ImageReference, digest: Digest): ImageReference {
  const out: ImageReference = { registry: ref.registry, repository: ref.repository, digest, familiar: '' };
  if (ref.tag !== undefined) out.tag = ref.tag;
  out.familiar = familiarString(out);
  return out;
}
