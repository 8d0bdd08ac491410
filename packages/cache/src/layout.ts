/**
 * Where the cache lives on disk, and the names of everything inside it.
 *
 * On-disk format, version 1 (the version is part of each directory name, so a future format lives
 * beside this one instead of misreading it):
 *
 * ```
 * <root>/
 *   content-v1/<algorithm>/<hex>          one blob per file, named by its digest, mode 0444;
 *                                          only ever appears by rename after verification
 *   index-v1/<kk>/<khex>.json             one cache entry per key (kk = first two hex digits of the
 *                                          key, to keep directories small); file mtime = last use
 *   index-v1/<kk>/<khex>.preimage.json    the framed key's pre-image, for explaining misses
 *   history-v1/<ss>/<shex>.json           shex = sha256(stepId): a hard link to the pre-image
 *                                          last recorded for that step identity
 *   tmp/<pid>-<random>.tmp                in-progress writes; same file system as everything
 *                                          else so the final rename is atomic; removed by age
 * ```
 *
 * Every file is written to `tmp/`, fsynced, then renamed into place, so readers see either the old
 * or the new file, never a torn one, even with several processes sharing the directory.
 */
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseDigest } from './digest.js';

/**
 * The format version in the directory names above. Bump on any incompatible change.
 *
 * @example
 * ```ts
 * join(root, `content-v${CACHE_FORMAT_VERSION}`)
 * ```
 */
export const CACHE_FORMAT_VERSION = 1;

/**
 * The cache root: `$BUILD_IMAGE_CACHE_DIR`, else `$XDG_CACHE_HOME/build-image`, else
 * `~/.cache/build-image`. Relative values are resolved against the working directory.
 *
 * @example
 * ```ts
 * resolveCacheDir({ XDG_CACHE_HOME: '/var/cache' }) // '/var/cache/build-image'
 * ```
 */
export function resolveCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env['BUILD_IMAGE_CACHE_DIR'];
  if (explicit) return resolve(explicit);
  const xdg = env['XDG_CACHE_HOME'];
  // The XDG spec says relative values are invalid and must be ignored.
  if (xdg && xdg.startsWith('/')) return join(xdg, 'build-image');
  const home = env['HOME'] || homedir();
  return join(home, '.cache', 'build-image');
}

/**
 * Paths inside one cache root. Pure string work; nothing here touches the disk.
 *
 * @example
 * ```ts
 * new CacheLayout('/c').blob('sha256:' + 'a'.repeat(64)) // '/c/content-v1/sha256/aaaa…'
 * ```
 */
export class CacheLayout {
  readonly content: string;
  readonly index: string;
  readonly history: string;
  readonly tmp: string;

  constructor(readonly root: string) {
    this.content = join(root, `content-v${CACHE_FORMAT_VERSION}`);
    this.index = join(root, `index-v${CACHE_FORMAT_VERSION}`);
    this.history = join(root, `history-v${CACHE_FORMAT_VERSION}`);
    this.tmp = join(root, 'tmp');
  }

  /** Blob path for a digest; validates the digest first so it cannot escape the root. */
  blob(digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.content, algorithm, hex);
  }

  /** Directory holding the index files of a key (`index-v1/<kk>`). */
  entryDir(keyHex: string): string {
    return join(this.index, keyHex.slice(0, 2));
  }

  entry(keyHex: string): string {
    return join(this.entryDir(keyHex), `${keyHex}.json`);
  }

  preimage(keyHex: string): string {
    return join(this.entryDir(keyHex), `${keyHex}.preimage.json`);
  }

  historyFile(stepHex: string): string {
    return join(this.history, stepHex.slice(0, 2), `${stepHex}.json`);
  }
}
