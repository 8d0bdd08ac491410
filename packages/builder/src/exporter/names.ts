/** Image names as the OCI layout's annotations and Docker's manifest.json want them. */
import { familiarString, formatReference, parseReference } from '../reference/index.js';
import { ExportError } from './errors.js';

/** One `--tag`/`name=` value in the three spellings the exporters write. */
export interface ExportName {
  /** `docker.io/library/app:1`: the `io.containerd.image.name` annotation. */
  full: string;
  /** `1`: the `org.opencontainers.image.ref.name` annotation (a tag, as BuildKit writes it). */
  refName: string | undefined;
  /** `app:1`: Docker's `RepoTags` entry; undefined for a digest-only name. */
  repoTag: string | undefined;
  /** `app`: the key of Docker's `repositories` file. */
  familiarRepo: string;
}

/** Parses the names given to an exporter; a name without tag or digest gets `:latest`. */
export function parseExportNames(names: readonly string[]): ExportName[] {
  const out: ExportName[] = [];
  for (const name of names) {
    let ref;
    try {
      ref = parseReference(name);
    } catch (err) {
      throw new ExportError('E_EXPORT_INVALID_NAME', `Invalid image name "${name}" for the exporter: ${(err as Error).message}`, { cause: err, data: { name } });
    }
    const familiarRepo = familiarString({ registry: ref.registry, repository: ref.repository });
    out.push({
      full: formatReference(ref),
      refName: ref.tag,
      repoTag: ref.tag !== undefined ? `${familiarRepo}:${ref.tag}` : undefined,
      familiarRepo,
    });
  }
  return out;
}
