/**
 * `--output type=tar`: the image's root filesystem as one plain tar (BuildKit's tar exporter),
 * streamed from a flattened copy so no layer is held in memory.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobStore } from '@build-image/cache';
import type { Image } from '../image/types.js';
import { directoryEntries, tarStream } from '../layer/index.js';
import { exportRootfs } from './rootfs.js';

/** Writes the root filesystem of `image` as a tar to a file path or a stream. */
export async function exportRootfsTar(image: Image, store: BlobStore, destination: string | Writable, options: { sourceDateEpoch?: number } = {}): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'build-image-rootfs-'));
  try {
    await exportRootfs(image, store, dir);
    const out = typeof destination === 'string' ? createWriteStream(destination) : destination;
    await pipeline(Readable.from(tarStream(directoryEntries(dir, { xattrs: 'capability' }), options), { objectMode: false, highWaterMark: 1024 * 1024 }), out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
