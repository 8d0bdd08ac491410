/**
 * Cache keys: a digest over a canonical, framed encoding of typed key parts.
 *
 * Framing, version 1 (see also the package README). Values are encoded as a tree of three tokens:
 *
 * ```
 * string  = 0x73 ('s') ‖ uint32be(byte length) ‖ UTF-8 bytes
 * null    = 0x6e ('n')
 * list    = 0x6c ('l') ‖ uint32be(item count) ‖ item ‖ item ‖ …
 * ```
 *
 * The encoding is prefix-free, so two different trees never produce the same bytes: moving a
 * character from one field to its neighbour, or a part from one list to another, changes the key.
 * The key is `sha256(encode(["build-image.cache-key", "v1", [part, part, …]]))`, each part a list
 * whose first item is its type tag:
 *
 * ```
 * ["parent", key|null]   ["base", digest]   ["platform", value]   ["op", value]
 * ["input", name, key|null]   ["arg", name, value]   ["env", name, value]   ["secret-id", id]
 * ["files", name, [[path, hash, octal mode|null], …]]   ["extra", name, value|null]
 * ```
 *
 * Parts are put in a canonical order before encoding: by type in the order above, then by name (or
 * id), so the caller's order never matters (ARGs and ENVs are sets). File entries are sorted by path
 * (JavaScript string order, i.e. UTF-16 code units). Duplicate singletons, names or paths are
 * rejected rather than silently merged.
 *
 * What never enters a key is decided by the caller, which simply does not hand it over: mtimes,
 * display text, comments, line numbers and host-specific paths. Secret *values* never enter a key,
 * only their ids.
 */
import { createHash, type Hash } from 'node:crypto';
import { InvalidKeyPartError } from './errors.js';
import type { CacheKey, Digest } from './types.js';

/**
 * The key algorithm's version. A change to the framing is a new version (and a new key space).
 *
 * @example
 * ```ts
 * if (preimage.version !== CACHE_KEY_VERSION) console.log('recorded by another key format')
 * ```
 */
export const CACHE_KEY_VERSION = 1;
const DOMAIN = 'build-image.cache-key';

/**
 * One file of a content-hashed source, as the builder's context hasher reports it.
 *
 * @example
 * ```ts
 * const e: FileEntry = { path: 'src/a.ts', hash: 'sha256:…', mode: 0o644 }
 * ```
 */
export interface FileEntry {
  /** Path relative to the source root, `/`-separated. */
  path: string;
  /** The builder's content hash of the entry (bytes, link target, owner… as it defines it). */
  hash: string;
  /** Permission bits, when the builder wants a mode-only change reported as such (`'mode'`). */
  mode?: number;
}

/**
 * A typed input of a cache key.
 *
 * @example
 * ```ts
 * const p: KeyPart = { type: 'env', name: 'PATH', value: '/usr/bin' }
 * ```
 */
export type KeyPart =
  /** The key of the step this one builds on; null for a step with no parent (a FROM). */
  | { type: 'parent'; value: CacheKey | null }
  /** Base image manifest digest. */
  | { type: 'base'; value: Digest }
  /** Target platform, e.g. `linux/arm64/v8`. */
  | { type: 'platform'; value: string }
  /** The canonical operation (instruction after expansion), never display text. */
  | { type: 'op'; value: string }
  /** Another step's key this one depends on (e.g. `COPY --from=builder`), by a stable name. */
  | { type: 'input'; name: string; value: CacheKey | Digest | null }
  /** A build arg the step can see. */
  | { type: 'arg'; name: string; value: string }
  /** An environment variable the step can see. */
  | { type: 'env'; name: string; value: string }
  /** The id of a secret mounted into the step (never its value). */
  | { type: 'secret-id'; value: string }
  /** A content-hashed file set, e.g. `source #1`. */
  | { type: 'files'; name: string; entries: readonly FileEntry[] }
  /** Anything else that changes the result (network mode, mount options, …). */
  | { type: 'extra'; name: string; value: string | null };

/**
 * The type tags of {@link KeyPart}.
 *
 * @example
 * ```ts
 * const t: KeyPartType = 'files'
 * ```
 */
export type KeyPartType = KeyPart['type'];
const TYPE_ORDER: readonly KeyPartType[] = ['parent', 'base', 'platform', 'op', 'input', 'arg', 'env', 'secret-id', 'files', 'extra'];
const TYPE_RANK = new Map<string, number>(TYPE_ORDER.map((t, i) => [t, i]));
const SINGLETONS = new Set<string>(['parent', 'base', 'platform', 'op']);

/**
 * The framed input of a key, kept beside the cache entry so a later miss can be explained.
 *
 * @example
 * ```ts
 * const { preimage } = computeCacheKey(parts); JSON.stringify(preimage) // safe to store
 * ```
 */
export interface KeyPreimage {
  /** {@link CACHE_KEY_VERSION} at the time the key was computed. */
  version: number;
  /** The parts in canonical order, file entries sorted by path. JSON-serializable. */
  parts: KeyPart[];
}

/**
 * Computes a cache key and its canonical pre-image.
 *
 * @example
 * ```ts
 * const { key, preimage } = computeCacheKey([
 *   { type: 'parent', value: parentKey },
 *   { type: 'op', value: 'RUN ["/bin/sh","-c","make"]' },
 *   { type: 'arg', name: 'VERSION', value: '2' },
 *   { type: 'files', name: 'source #1', entries: [{ path: 'src/a.ts', hash: 'sha256:…' }] },
 * ])
 * ```
 */
export function computeCacheKey(parts: readonly KeyPart[]): { key: CacheKey; preimage: KeyPreimage } {
  const canonical = canonicalizeParts(parts);
  const enc = new Encoder(createHash('sha256'));
  enc.listHeader(3);
  enc.str(DOMAIN);
  enc.str(`v${CACHE_KEY_VERSION}`);
  enc.listHeader(canonical.length);
  for (const part of canonical) encodePart(enc, part);
  return { key: `sha256:${enc.hash.digest('hex')}` as CacheKey, preimage: { version: CACHE_KEY_VERSION, parts: canonical } };
}

/**
 * Recomputes the key a stored pre-image stands for (to check that a pre-image belongs to a key).
 *
 * @example
 * ```ts
 * keyOfPreimage(preimage) === key // true for a pre-image from computeCacheKey
 * ```
 */
export function keyOfPreimage(preimage: KeyPreimage): CacheKey {
  if (preimage.version !== CACHE_KEY_VERSION) {
    throw new InvalidKeyPartError(`pre-image has key version ${preimage.version}; this build-image computes version ${CACHE_KEY_VERSION}`, {
      version: preimage.version,
    });
  }
  return computeCacheKey(preimage.parts).key;
}

/**
 * Compares strings by UTF-16 code units (the order every sort here uses).
 *
 * @example
 * ```ts
 * ['b', 'B', 'a'].sort(comparePaths) // ['B', 'a', 'b']
 * ```
 */
export function comparePaths(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function partName(p: KeyPart): string {
  switch (p.type) {
    case 'input':
    case 'arg':
    case 'env':
    case 'files':
    case 'extra':
      return p.name;
    case 'secret-id':
      return p.value;
    default:
      return '';
  }
}

function canonicalizeParts(parts: readonly KeyPart[]): KeyPart[] {
  const out = parts.map(validatePart);
  out.sort((a, b) => TYPE_RANK.get(a.type)! - TYPE_RANK.get(b.type)! || comparePaths(partName(a), partName(b)));
  for (let i = 1; i < out.length; i++) {
    const a = out[i - 1]!;
    const b = out[i]!;
    if (a.type === b.type && partName(a) === partName(b)) {
      throw new InvalidKeyPartError(
        SINGLETONS.has(a.type)
          ? `cache key has two "${a.type}" parts; a step has at most one`
          : `cache key has two "${a.type}" parts named ${JSON.stringify(partName(a))}; names must be unique per type`,
        { type: a.type, name: partName(a) },
      );
    }
  }
  return out;
}

function validatePart(p: KeyPart): KeyPart {
  const bad = (field: string): never => {
    throw new InvalidKeyPartError(`cache key part "${String((p as { type?: unknown }).type)}" has an invalid ${field}`, { part: describe(p) });
  };
  if (!p || typeof p !== 'object' || !TYPE_RANK.has((p as { type: string }).type)) {
    throw new InvalidKeyPartError(`unknown cache key part type ${JSON.stringify((p as { type?: unknown } | null)?.type)}; known: ${TYPE_ORDER.join(', ')}`);
  }
  const isStr = (v: unknown): v is string => typeof v === 'string';
  switch (p.type) {
    case 'parent':
      if (p.value !== null && !isStr(p.value)) bad('value');
      return { type: p.type, value: p.value };
    case 'base':
    case 'platform':
    case 'op':
    case 'secret-id':
      if (!isStr(p.value)) bad('value');
      return { type: p.type, value: p.value } as KeyPart;
    case 'input':
    case 'extra':
      if (!isStr(p.name)) bad('name');
      if (p.value !== null && !isStr(p.value)) bad('value');
      return { type: p.type, name: p.name, value: p.value } as KeyPart;
    case 'arg':
    case 'env':
      if (!isStr(p.name)) bad('name');
      if (!isStr(p.value)) bad('value');
      return { type: p.type, name: p.name, value: p.value };
    case 'files':
      if (!isStr(p.name)) bad('name');
      if (!Array.isArray(p.entries)) bad('entries list');
      return { type: 'files', name: p.name, entries: canonicalEntries(p.name, p.entries) };
  }
}

function describe(p: unknown): unknown {
  if (p && typeof p === 'object' && 'entries' in p) return { ...(p as object), entries: '[…]' };
  return p;
}

function canonicalEntries(source: string, entries: readonly FileEntry[]): FileEntry[] {
  const out: FileEntry[] = new Array(entries.length);
  let sorted = true;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (!e || typeof e.path !== 'string' || typeof e.hash !== 'string') {
      throw new InvalidKeyPartError(`file entry ${i} of ${JSON.stringify(source)} needs a string path and hash`, { source, index: i });
    }
    if (e.mode !== undefined && !(Number.isSafeInteger(e.mode) && e.mode >= 0)) {
      throw new InvalidKeyPartError(`file ${JSON.stringify(e.path)} of ${JSON.stringify(source)} has an invalid mode ${String(e.mode)}`, { source, path: e.path });
    }
    // Copy only the known fields: anything else (mtime, say) must not ride along into the pre-image.
    out[i] = e.mode === undefined ? { path: e.path, hash: e.hash } : { path: e.path, hash: e.hash, mode: e.mode };
    if (i > 0 && sorted && !(entries[i - 1]!.path < e.path)) sorted = false;
  }
  if (!sorted) out.sort((a, b) => comparePaths(a.path, b.path));
  for (let i = 1; i < out.length; i++) {
    if (out[i - 1]!.path === out[i]!.path) {
      throw new InvalidKeyPartError(`file ${JSON.stringify(out[i]!.path)} appears twice in ${JSON.stringify(source)}`, { source, path: out[i]!.path });
    }
  }
  return out;
}

function encodePart(enc: Encoder, p: KeyPart): void {
  switch (p.type) {
    case 'parent':
      enc.listHeader(2);
      enc.str(p.type);
      enc.strOrNull(p.value);
      return;
    case 'base':
    case 'platform':
    case 'op':
    case 'secret-id':
      enc.listHeader(2);
      enc.str(p.type);
      enc.str(p.value);
      return;
    case 'input':
    case 'arg':
    case 'env':
    case 'extra':
      enc.listHeader(3);
      enc.str(p.type);
      enc.str(p.name);
      enc.strOrNull(p.value);
      return;
    case 'files':
      enc.listHeader(3);
      enc.str(p.type);
      enc.str(p.name);
      enc.listHeader(p.entries.length);
      for (const e of p.entries) {
        enc.listHeader(3);
        enc.str(e.path);
        enc.str(e.hash);
        enc.strOrNull(e.mode === undefined ? null : e.mode.toString(8));
      }
  }
}

/**
 * Writes the token encoding into a hash through a 64 KiB staging buffer: one `update` per 64 KiB
 * instead of several per field keeps a 20,000-file list to a few milliseconds, and nothing the
 * size of the whole list is ever held.
 */
class Encoder {
  private readonly buf = Buffer.allocUnsafe(64 * 1024);
  private off = 0;
  constructor(private readonly h: Hash) {}

  get hash(): Hash {
    this.flush();
    return this.h;
  }

  listHeader(count: number): void {
    this.room(5);
    this.buf[this.off] = 0x6c;
    this.buf.writeUInt32BE(count, this.off + 1);
    this.off += 5;
  }

  str(value: string): void {
    const len = Buffer.byteLength(value, 'utf8');
    this.room(5);
    this.buf[this.off] = 0x73;
    this.buf.writeUInt32BE(len, this.off + 1);
    this.off += 5;
    if (len > this.buf.length - this.off) {
      this.flush();
      if (len > this.buf.length) {
        this.h.update(value, 'utf8');
        return;
      }
    }
    this.off += this.buf.write(value, this.off, 'utf8');
  }

  strOrNull(value: string | null): void {
    if (value !== null) return this.str(value);
    this.room(1);
    this.buf[this.off++] = 0x6e;
  }

  private room(n: number): void {
    if (this.buf.length - this.off < n) this.flush();
  }

  private flush(): void {
    if (this.off > 0) this.h.update(this.buf.subarray(0, this.off));
    this.off = 0;
  }
}
