/** Getting blobs from the store into a directory: a hardlink when possible, else a streamed copy. */
import { createWriteStream } from 'node:fs';
import { link, mkdir, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { BlobStore, Descriptor } from '@build-image/cache';
import { ExportError } from './errors.js';

/**
 * Places blob `desc` at `dest`. Blobs are immutable and content-addressed, so an existing file of
 * the right size is kept and a hardlink into the store is safe (nobody writes to a blob in place).
 */
export async function placeBlob(store: BlobStore, desc: Descriptor, dest: string): Promise<void> {
  const existing = await stat(dest).catch(() => undefined);
  if (existing && existing.size === desc.size) return;
  if (!(await store.has(desc.digest))) {
    throw new ExportError('E_EXPORT_BLOB_MISSING', `Blob ${desc.digest} (${desc.mediaType}) is not in the content store; it must be written (or pulled) before exporting.`, {
      data: { digest: desc.digest, mediaType: desc.mediaType },
    });
  }
  await mkdir(dirname(dest), { recursive: true });
  const tmp = `${dest}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    await link(store.pathOf(desc.digest), tmp);
  } catch {
    // Another file system (EXDEV), a store without files, or no permission: copy, streaming.
    await pipeline(store.get(desc.digest), createWriteStream(tmp, { mode: 0o644 }));
  }
  try {
    await rename(tmp, dest);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
