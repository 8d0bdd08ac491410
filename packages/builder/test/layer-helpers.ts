/**
 * Test helpers for the layer/image/exporter tests: a small directory-backed BlobStore (until the
 * cache package's ContentStore is exported), and a `sh` runner for real tools.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import type { BlobStore, Digest } from '@build-image/cache';

const execFileP = promisify(execFile);

/** Runs a real program; resolves with stdout, rejects with stderr in the message. */
export async function run(cmd: string, args: string[], options: { cwd?: string } = {}): Promise<string> {
  try {
    const { stdout } = await execFileP(cmd, args, { maxBuffer: 64 * 1024 * 1024, ...options });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr ?? ''} ${e.message}`);
  }
}

/** A minimal, verifying, directory-backed BlobStore for tests. */
export class DirBlobStore implements BlobStore {
  constructor(readonly root: string) {}
  pathOf(digest: Digest): string {
    return join(this.root, 'blobs', 'sha256', digest.slice('sha256:'.length));
  }
  async has(digest: Digest): Promise<boolean> {
    return (await this.stat(digest)) !== undefined;
  }
  async stat(digest: Digest): Promise<{ size: number } | undefined> {
    try {
      return { size: (await stat(this.pathOf(digest))).size };
    } catch {
      return undefined;
    }
  }
  async put(source: Readable | AsyncIterable<Uint8Array>, options: { expected?: Digest; size?: number } = {}): Promise<{ digest: Digest; size: number }> {
    await mkdir(join(this.root, 'blobs', 'sha256'), { recursive: true });
    const tmp = join(this.root, `tmp-${randomUUID()}`);
    const hash = createHash('sha256');
    let size = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _e, cb) {
        hash.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    await pipeline(source instanceof Readable ? source : Readable.from(source), tap, createWriteStream(tmp));
    const digest = `sha256:${hash.digest('hex')}` as Digest;
    if ((options.expected && options.expected !== digest) || (options.size !== undefined && options.size !== size)) {
      await rm(tmp, { force: true });
      throw new Error(`digest mismatch: expected ${options.expected} got ${digest}`);
    }
    await rename(tmp, this.pathOf(digest));
    return { digest, size };
  }
  async putBytes(data: Uint8Array | string, options: { expected?: Digest } = {}): Promise<{ digest: Digest; size: number }> {
    return this.put(Readable.from([Buffer.from(data)]), options);
  }
  get(digest: Digest): Readable {
    return createReadStream(this.pathOf(digest));
  }
  async getBytes(digest: Digest): Promise<Buffer> {
    return readFile(this.pathOf(digest));
  }
  async delete(digest: Digest): Promise<void> {
    await rm(this.pathOf(digest), { force: true });
  }
}

import { writeFile as writeFileP, mkdir as mkdirP } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeLayerFromDirectory } from '../src/layer/index.js';
import { putImage, type Image, type ImageConfig } from '../src/image/index.js';

/** A one-layer image made for real: files → layer blob → config → manifest, all in `store`. */
export async function makeTestImage(
  store: BlobStore,
  tmpDir: string,
  files: Record<string, string>,
  options: { architecture?: string; variant?: string; env?: string[] } = {},
): Promise<Image> {
  const tree = join(tmpDir, `tree-${randomUUID()}`);
  for (const [name, content] of Object.entries(files)) {
    await mkdirP(dirname(join(tree, name)), { recursive: true });
    await writeFileP(join(tree, name), content);
  }
  const layer = await writeLayerFromDirectory(tree, store, { sourceDateEpoch: 0 });
  const config: ImageConfig = {
    created: '2024-01-01T00:00:00Z',
    architecture: options.architecture ?? 'amd64',
    os: 'linux',
    ...(options.variant ? { variant: options.variant } : {}),
    config: { Env: options.env ?? ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/bin/sh'], WorkingDir: '/' },
    rootfs: { type: 'layers', diff_ids: [layer.diffId] },
    history: [{ created: '2024-01-01T00:00:00Z', created_by: 'COPY . / # buildkit', comment: 'buildkit.dockerfile.v0' }],
  };
  return putImage(store, config, [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }]);
}
