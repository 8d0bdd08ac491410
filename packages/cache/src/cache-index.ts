/**
 * The cache index: CacheKey → the result a step produced (layer descriptors, config, metadata).
 *
 * Design: one small JSON file per key, `index-v1/<kk>/<khex>.json`, written temp → rename. Lookup is
 * one open + read (O(1) in the number of entries); two processes never see a torn entry; a crash
 * leaves either the old entry or the new one. "Last used" is the entry file's mtime, updated with
 * one `utimes` call on a hit, so a hit never rewrites anything. The key's pre-image sits beside it
 * (`<khex>.preimage.json`) so `get` does not read it; the per-step history (`history-v1/`) is a hard
 * link to the pre-image recorded last for a step identity, so recording a hit costs one link +
 * rename, whatever the pre-image's size, and the history survives pruning of the entry.
 *
 * The index references blobs in a {@link ContentStore}; pruning removes entries least recently used
 * first and then the blobs nothing else references.
 */
import { createHash } from 'node:crypto';
import { lstat, readFile, readdir, rm, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { linkAtomic, writeFileAtomic } from './atomic-file.js';
import type { ContentStore } from './content-store.js';
import { isDigest, parseDigest } from './digest.js';
import { BlobNotFoundError, InvalidDigestError, InvalidKeyPartError } from './errors.js';
import { keyOfPreimage, type KeyPreimage } from './keys.js';
import type { CacheKey, Descriptor, Digest } from './types.js';

/**
 * A layer of a cached result: an OCI descriptor of the (compressed) blob plus its diffID.
 *
 * @example
 * ```ts
 * const l: LayerDescriptor = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size, diffId }
 * ```
 */
export interface LayerDescriptor extends Descriptor {
  /** Digest of the uncompressed tar (the image config's `rootfs.diff_ids` entry). */
  diffId?: Digest;
}

/**
 * What the builder attaches to a key. Must be JSON-serializable.
 *
 * @example
 * ```ts
 * const result: CacheResult = { layers: [l], config: { Env: ['PATH=/usr/bin'] }, metadata: { exitCode: 0 } }
 * ```
 */
export interface CacheResult {
  /** Layers the step produced; each blob must be in the store, and is kept while this entry lives. */
  layers?: LayerDescriptor[];
  /** Inline JSON (e.g. an image config fragment). Not a blob reference; use `blobs` for those. */
  config?: unknown;
  /** Further blobs this result needs kept (a config or manifest stored as a blob, say). */
  blobs?: Digest[];
  /** Anything else the builder wants back on a hit. */
  metadata?: Record<string, unknown>;
}

/**
 * A stored entry, as {@link CacheIndex.get} returns it.
 *
 * @example
 * ```ts
 * const rec: CacheRecord | undefined = await index.get(key)
 * rec?.layers?.map((l) => l.diffId)
 * ```
 */
export interface CacheRecord extends CacheResult {
  key: CacheKey;
  /** ISO 8601, from the index's clock. */
  createdAt: string;
  /** ISO 8601; the time of the last hit (or of the put). */
  lastUsedAt: string;
  /** Total bytes of the distinct blobs this entry references. */
  size: number;
}

/**
 * Options of {@link CacheIndex}.
 *
 * @example
 * ```ts
 * new CacheIndex(store, { now: () => Date.UTC(2030, 0, 1) })
 * ```
 */
export interface CacheIndexOptions {
  /** Clock in ms since the epoch (creation and last-use times, prune ages). Default `Date.now`. */
  now?: () => number;
}

/**
 * Options of {@link CacheIndex.prune}.
 *
 * @example
 * ```ts
 * const opts: PruneOptions = { maxBytes: 5 * 2 ** 30, olderThan: 14 * 86_400_000 }
 * ```
 */
export interface PruneOptions {
  /** Remove least recently used entries (and then unreferenced blobs) until the cache is at most this big. */
  maxBytes?: number;
  /** Remove entries not used for this many ms (and blobs nothing references that are as old). */
  olderThan?: number;
  /** Remove every entry and every blob. */
  all?: boolean;
  /**
   * Blobs referenced by no entry and written less than this many ms ago are never removed: they may
   * belong to a build that has not recorded its entry yet. Default 10 minutes.
   */
  orphanGrace?: number;
  /** Temp files of crashed writers older than this many ms are removed. Default 24 h. */
  tempOlderThan?: number;
}

/**
 * What {@link CacheIndex.prune} removed.
 *
 * @example
 * ```ts
 * const { removedEntries, freedBytes } = await index.prune({ maxBytes: 0 })
 * ```
 */
export interface PruneResult {
  removedEntries: CacheKey[];
  removedBlobs: Digest[];
  removedTempFiles: number;
  /** Bytes of removed blobs, entry files and temp files. */
  freedBytes: number;
  /** Bytes the cache still holds. */
  remainingBytes: number;
}

/**
 * Totals of {@link CacheIndex.diskUsage}.
 *
 * @example
 * ```ts
 * const { totalBytes, reclaimableBytes } = await index.diskUsage()
 * ```
 */
export interface DiskUsage {
  entries: number;
  /** Bytes of entry and pre-image files. */
  entryBytes: number;
  blobs: number;
  blobBytes: number;
  /** Blobs no entry references (base-image layers, leftovers of overwritten entries). */
  orphanBlobs: number;
  orphanBytes: number;
  /** History files whose pre-image is no longer shared with an entry. */
  historyBytes: number;
  tempFiles: number;
  tempBytes: number;
  totalBytes: number;
  /** Bytes that pruning can free without losing any cache hit: orphan blobs and temp files. */
  reclaimableBytes: number;
}

/**
 * The last pre-image recorded for a step identity.
 *
 * @example
 * ```ts
 * const nearest: NearestRecord | undefined = await index.findNearest('build/3/RUN')
 * ```
 */
export interface NearestRecord {
  key: CacheKey;
  preimage: KeyPreimage;
}

interface EntryFile {
  v: 1;
  key: CacheKey;
  createdAt: string;
  size: number;
  result: CacheResult;
}

interface PreimageFile {
  v: 1;
  key: CacheKey;
  preimage: KeyPreimage;
}

interface ScannedEntry {
  key: CacheKey;
  hex: string;
  lastUsedMs: number;
  bytes: number;
  refs: Digest[];
}

const DEFAULT_ORPHAN_GRACE_MS = 10 * 60 * 1000;
const KEY_HEX_RE = /^[0-9a-f]{64}$/;

/**
 * The key → result index, backed by files under `<root>/index-v1/`.
 *
 * @example
 * ```ts
 * const store = new ContentStore({ root })
 * const index = new CacheIndex(store)
 * const { key, preimage } = computeCacheKey(parts)
 * const hit = await index.get(key, { stepId })
 * if (!hit) {
 *   const why = explainMiss(preimage, (await index.findNearest(stepId))?.preimage).map(formatMissReason)
 *   await index.put(key, { layers: [layer] }, preimage, { stepId })
 * }
 * ```
 */
export class CacheIndex {
  private readonly now: () => number;

  constructor(readonly store: ContentStore, options: CacheIndexOptions = {}) {
    this.now = options.now ?? Date.now;
  }

  private get layout() {
    return this.store.layout;
  }

  /**
   * Records a result for a key, replacing any earlier one. Every referenced blob must already be in
   * the store (`E_BLOB_NOT_FOUND` otherwise). When a pre-image is given it must be the key's
   * (`E_INVALID_KEY_PART` otherwise); with a `stepId` it also becomes that step's latest history.
   *
   * @example
   * ```ts
   * await index.put(key, { layers: [{ mediaType, digest, size, diffId }] }, preimage, { stepId: 'build/3/RUN' })
   * ```
   */
  async put(key: CacheKey, result: CacheResult, preimage?: KeyPreimage, options: { stepId?: string } = {}): Promise<CacheRecord> {
    const hex = keyHex(key);
    if (preimage) {
      const actual = keyOfPreimage(preimage);
      if (actual !== key) {
        throw new InvalidKeyPartError(`the pre-image given for ${key} hashes to ${actual}; pass the pre-image computeCacheKey returned with this key`, {
          key,
          actual,
        });
      }
    }
    const refs = referencesOf(result);
    let size = 0;
    for (const d of refs) {
      const st = await this.store.stat(d);
      if (!st) throw new BlobNotFoundError(d, this.store.pathOf(d));
      size += st.size;
    }
    const nowMs = this.now();
    const createdAt = new Date(nowMs).toISOString();
    if (preimage) {
      const file: PreimageFile = { v: 1, key, preimage };
      await writeFileAtomic(this.layout.tmp, this.layout.preimage(hex), JSON.stringify(file), { mtimeMs: nowMs, durable: false });
    }
    const entry: EntryFile = { v: 1, key, createdAt, size, result };
    // Not fsynced (file or directory): every blob it names is already durable, and what a crash
    // can do to an entry written without fsync (lose it, or leave it empty) reads as a miss (see
    // readEntry). Saves two fsyncs per step (~0.3-5 ms each, more on a busy disk).
    await writeFileAtomic(this.layout.tmp, this.layout.entry(hex), JSON.stringify(entry), { mtimeMs: nowMs, durable: false });
    if (options.stepId !== undefined && preimage) await this.recordStep(options.stepId, key);
    return { ...result, key, createdAt, lastUsedAt: createdAt, size };
  }

  /**
   * Looks a key up. A hit marks the entry as just used (one `utimes`) and, with a `stepId`, records
   * the key as that step's latest. An entry whose blobs are gone (pruned meanwhile, or removed as
   * corrupt) is dropped and reported as a miss.
   *
   * @example
   * ```ts
   * const hit = await index.get(key, { stepId })
   * if (hit) reuse(hit.layers)
   * ```
   */
  async get(key: CacheKey, options: { stepId?: string } = {}): Promise<CacheRecord | undefined> {
    const hex = keyHex(key);
    const path = this.layout.entry(hex);
    const entry = await readEntry(path);
    if (!entry || entry.key !== key) return undefined;
    for (const d of referencesOf(entry.result)) {
      if (!(await this.store.has(d))) {
        await this.delete(key);
        return undefined;
      }
    }
    const nowMs = this.now();
    try {
      await utimes(path, nowMs / 1000, nowMs / 1000);
    } catch (e) {
      // Pruned by another process between the read and now: that is a miss.
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    if (options.stepId !== undefined) await this.recordStep(options.stepId, key);
    return { ...entry.result, key, createdAt: entry.createdAt, lastUsedAt: new Date(nowMs).toISOString(), size: entry.size };
  }

  /**
   * Like {@link get} but does not mark the entry as used and does not check its blobs.
   *
   * @example
   * ```ts
   * const rec = await index.peek(key)
   * ```
   */
  async peek(key: CacheKey): Promise<CacheRecord | undefined> {
    const hex = keyHex(key);
    const path = this.layout.entry(hex);
    const entry = await readEntry(path);
    if (!entry || entry.key !== key) return undefined;
    const st = await lstat(path).catch(() => undefined);
    if (!st) return undefined;
    return { ...entry.result, key, createdAt: entry.createdAt, lastUsedAt: new Date(st.mtimeMs).toISOString(), size: entry.size };
  }

  /**
   * The pre-image stored with a key, if any.
   *
   * @example
   * ```ts
   * const pre = await index.getPreimage(key)
   * ```
   */
  async getPreimage(key: CacheKey): Promise<KeyPreimage | undefined> {
    return (await readPreimage(this.layout.preimage(keyHex(key))))?.preimage;
  }

  /**
   * Makes `key`'s pre-image the latest recorded one for `stepId` (a stable step identity such as
   * `stage name + step number + instruction kind`). Returns false when the key has no pre-image.
   *
   * @example
   * ```ts
   * await index.recordStep('runtime/4/COPY', key)
   * ```
   */
  async recordStep(stepId: string, key: CacheKey): Promise<boolean> {
    const src = this.layout.preimage(keyHex(key));
    try {
      const dest = this.layout.historyFile(stepHex(stepId));
      await linkAtomic(this.layout.tmp, src, dest, () => readFile(src));
      // The history's age (for prune's olderThan) is the time it was last recorded, not the time
      // the pre-image was first written.
      const t = this.now() / 1000;
      await utimes(dest, t, t);
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  }

  /**
   * The last pre-image recorded for a step identity (by {@link put} or a {@link get} hit with that
   * `stepId`), to explain a miss with {@link explainMiss}.
   *
   * @example
   * ```ts
   * const reasons = explainMiss(preimage, (await index.findNearest(stepId))?.preimage)
   * ```
   */
  async findNearest(stepId: string): Promise<NearestRecord | undefined> {
    const file = await readPreimage(this.layout.historyFile(stepHex(stepId)));
    return file ? { key: file.key, preimage: file.preimage } : undefined;
  }

  /**
   * Removes an entry (not its blobs; {@link prune} removes unreferenced blobs).
   *
   * @example
   * ```ts
   * await index.delete(key)
   * ```
   */
  async delete(key: CacheKey): Promise<void> {
    const hex = keyHex(key);
    await rm(this.layout.entry(hex), { force: true });
    await rm(this.layout.preimage(hex), { force: true });
  }

  /**
   * Every entry, in no particular order, without marking any as used.
   *
   * @example
   * ```ts
   * for await (const rec of index.list()) console.log(rec.key, rec.lastUsedAt)
   * ```
   */
  async *list(): AsyncGenerator<CacheRecord> {
    for (const e of await this.scanEntries()) {
      const rec = await this.peek(e.key);
      if (rec) yield rec;
    }
  }

  /**
   * Sizes of everything in the cache.
   *
   * @example
   * ```ts
   * const du = await index.diskUsage()
   * console.log(`${du.entries} entries, ${du.totalBytes} bytes, ${du.reclaimableBytes} reclaimable`)
   * ```
   */
  async diskUsage(): Promise<DiskUsage> {
    const entries = await this.scanEntries();
    const referenced = new Set<string>();
    for (const e of entries) for (const d of e.refs) referenced.add(d);
    let blobs = 0;
    let blobBytes = 0;
    let orphanBlobs = 0;
    let orphanBytes = 0;
    for await (const b of this.store.list()) {
      blobs++;
      blobBytes += b.size;
      if (!referenced.has(b.digest)) {
        orphanBlobs++;
        orphanBytes += b.size;
      }
    }
    const history = await this.scanHistory();
    const historyBytes = history.reduce((n, h) => n + (h.nlink === 1 ? h.size : 0), 0);
    const temp = await this.store.tempUsage();
    const entryBytes = entries.reduce((n, e) => n + e.bytes, 0);
    return {
      entries: entries.length,
      entryBytes,
      blobs,
      blobBytes,
      orphanBlobs,
      orphanBytes,
      historyBytes,
      tempFiles: temp.files,
      tempBytes: temp.bytes,
      totalBytes: entryBytes + blobBytes + historyBytes + temp.bytes,
      reclaimableBytes: orphanBytes + temp.bytes,
    };
  }

  /**
   * Frees space: least recently used entries first, each with the blobs only it referenced (a blob
   * another remaining entry references stays). Blobs no entry references count as used at their
   * mtime and go in the same order, after a grace period. Temp files of crashed writers go by age.
   *
   * A prune racing with a `put` in another process can at worst remove a blob the new entry
   * needs; `get` then drops that entry and reports a miss, never a broken hit.
   *
   * @example
   * ```ts
   * const { freedBytes } = await index.prune({ maxBytes: 10 * 2 ** 30, olderThan: 7 * 86_400_000 })
   * ```
   */
  async prune(options: PruneOptions = {}): Promise<PruneResult> {
    const nowMs = this.now();
    const temp = await this.store.cleanTemp(options.tempOlderThan === undefined ? {} : { olderThan: options.tempOlderThan });
    const entries = await this.scanEntries();
    const refCount = new Map<string, number>();
    for (const e of entries) for (const d of e.refs) refCount.set(d, (refCount.get(d) ?? 0) + 1);
    const blobs = new Map<string, { size: number; mtimeMs: number }>();
    for await (const b of this.store.list()) blobs.set(b.digest, { size: b.size, mtimeMs: b.mtimeMs });
    const history = await this.scanHistory();
    const tempLeft = await this.store.tempUsage();

    let total = entries.reduce((n, e) => n + e.bytes, 0) + tempLeft.bytes;
    for (const b of blobs.values()) total += b.size;
    for (const h of history) if (h.nlink === 1) total += h.size;

    const grace = options.orphanGrace ?? DEFAULT_ORPHAN_GRACE_MS;
    type Candidate = { kind: 'entry'; at: number; id: string; entry: ScannedEntry } | { kind: 'orphan'; at: number; id: string };
    const candidates: Candidate[] = entries.map((e) => ({ kind: 'entry', at: e.lastUsedMs, id: e.key, entry: e }));
    for (const [digest, b] of blobs) {
      if (!refCount.has(digest) && (options.all || b.mtimeMs <= nowMs - grace)) candidates.push({ kind: 'orphan', at: b.mtimeMs, id: digest });
    }
    // Oldest first; ties broken by id so the outcome does not depend on directory order.
    candidates.sort((a, b) => a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));

    const cutoff = options.olderThan === undefined ? undefined : nowMs - options.olderThan;
    const removedEntries: CacheKey[] = [];
    const removedBlobs: Digest[] = [];
    let freed = temp.bytes;
    const removeBlob = async (digest: string) => {
      const b = blobs.get(digest);
      if (!b) return;
      await this.store.delete(digest as Digest);
      blobs.delete(digest);
      removedBlobs.push(digest as Digest);
      freed += b.size;
      total -= b.size;
    };
    for (const c of candidates) {
      const expired = cutoff !== undefined && c.at < cutoff;
      const over = options.maxBytes !== undefined && total > options.maxBytes;
      // Sorted oldest first, and the total only shrinks: once neither rule applies, none will.
      if (!options.all && !expired && !over) break;
      if (c.kind === 'orphan') {
        await removeBlob(c.id);
        continue;
      }
      const preimageShared = await this.deleteEntryFiles(c.entry.hex);
      removedEntries.push(c.entry.key);
      const freedHere = preimageShared ? c.entry.bytes - preimageShared : c.entry.bytes;
      freed += freedHere;
      total -= c.entry.bytes;
      if (preimageShared) total += preimageShared; // now counted as history-only bytes
      for (const d of new Set(c.entry.refs)) {
        const n = (refCount.get(d) ?? 1) - 1;
        if (n > 0) refCount.set(d, n);
        else {
          refCount.delete(d);
          await removeBlob(d);
        }
      }
    }

    // History: drop step records as old as the cutoff, or all of them.
    for (const h of await this.scanHistory()) {
      if (options.all || (cutoff !== undefined && h.mtimeMs < cutoff)) {
        await rm(h.path, { force: true });
        if (h.nlink === 1) {
          freed += h.size;
          total -= h.size;
        }
      }
    }

    return { removedEntries, removedBlobs, removedTempFiles: temp.removed, freedBytes: freed, remainingBytes: Math.max(0, total) };
  }

  /** Removes an entry's files; returns the pre-image's size when a history link keeps it alive (else 0). */
  private async deleteEntryFiles(hex: string): Promise<number> {
    await rm(this.layout.entry(hex), { force: true });
    const pre = this.layout.preimage(hex);
    const st = await lstat(pre).catch(() => undefined);
    await rm(pre, { force: true });
    return st && st.nlink > 1 ? st.size : 0;
  }

  private async scanEntries(): Promise<ScannedEntry[]> {
    const out: ScannedEntry[] = [];
    for (const dir of await readdirOrEmpty(this.layout.index)) {
      const full = join(this.layout.index, dir);
      for (const name of await readdirOrEmpty(full)) {
        const m = /^([0-9a-f]{64})\.json$/.exec(name);
        if (!m) continue;
        const hex = m[1]!;
        const path = join(full, name);
        const st = await lstat(path).catch(() => undefined);
        if (!st) continue;
        const entry = await readEntry(path);
        if (!entry) continue;
        const pre = await lstat(this.layout.preimage(hex)).catch(() => undefined);
        out.push({ key: `sha256:${hex}` as CacheKey, hex, lastUsedMs: st.mtimeMs, bytes: st.size + (pre?.size ?? 0), refs: referencesOf(entry.result) });
      }
    }
    return out;
  }

  private async scanHistory(): Promise<Array<{ path: string; size: number; nlink: number; mtimeMs: number }>> {
    const out: Array<{ path: string; size: number; nlink: number; mtimeMs: number }> = [];
    for (const dir of await readdirOrEmpty(this.layout.history)) {
      const full = join(this.layout.history, dir);
      for (const name of await readdirOrEmpty(full)) {
        const path = join(full, name);
        const st = await lstat(path).catch(() => undefined);
        if (st?.isFile()) out.push({ path, size: st.size, nlink: st.nlink, mtimeMs: st.mtimeMs });
      }
    }
    return out;
  }
}

/**
 * The distinct blob digests a result keeps alive (layer digests and `blobs`).
 *
 * @example
 * ```ts
 * referencesOf({ layers: [l1, l1], blobs: [cfg] }) // [l1.digest, cfg]
 * ```
 */
export function referencesOf(result: CacheResult): Digest[] {
  const out = new Set<Digest>();
  for (const l of result.layers ?? []) {
    if (!isDigest(l.digest)) throw new InvalidDigestError(String(l.digest));
    out.add(l.digest);
  }
  for (const d of result.blobs ?? []) {
    if (!isDigest(d)) throw new InvalidDigestError(String(d));
    out.add(d);
  }
  return [...out];
}

function keyHex(key: CacheKey): string {
  const { algorithm, hex } = parseDigest(key);
  if (algorithm !== 'sha256' || !KEY_HEX_RE.test(hex)) throw new InvalidDigestError(key);
  return hex;
}

function stepHex(stepId: string): string {
  return createHash('sha256').update(stepId, 'utf8').digest('hex');
}

async function readEntry(path: string): Promise<EntryFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const v = JSON.parse(text) as EntryFile;
    return v && v.v === 1 && typeof v.key === 'string' && v.result && typeof v.result === 'object' ? v : undefined;
  } catch {
    // Writes are atomic, so this is damage from outside (disk, a person). Treat it as a miss.
    return undefined;
  }
}

async function readPreimage(path: string): Promise<PreimageFile | undefined> {
  try {
    const v = JSON.parse(await readFile(path, 'utf8')) as PreimageFile;
    return v && v.v === 1 && v.preimage && Array.isArray(v.preimage.parts) ? v : undefined;
  } catch {
    return undefined;
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw e;
  }
}
