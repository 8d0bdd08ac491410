/**
 * Test helpers for the layer/image/exporter tests: the real content store in a temp dir, a runner
 * for real tools, and a one-layer image made for real.
 */
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ContentStore, type BlobStore } from '@build-image/cache';

const execFileP = promisify(execFile);

/** Runs a real program; resolves with stdout, rejects with stderr in the message. */
export async function run(cmd: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  try {
    const { stdout } = await execFileP(cmd, args, { maxBuffer: 64 * 1024 * 1024, ...options });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${e.stderr ?? ''} ${e.message}`);
  }
}

/** The real content store (packages/cache) rooted in a test temp dir. */
export function makeStore(root: string): ContentStore {
  return new ContentStore({ root });
}

import { writeFile as writeFileP, mkdir as mkdirP } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeLayerFromDirectory } from '../src/layer/index.js';
import { putImage, type Image, type ImageConfig } from '../src/image/index.js';

/** A one-layer image made for real: files → layer blob → config → manifest, all in `store`. */
export async function makeTestImage(
  store: BlobStore,
  tmpDir: string,
  files: Record<string, string | Uint8Array>,
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
