/**
 * End-to-end helpers for RUN tests: a shared busybox base (OCI layout named context `busybox`),
 * builds through the public `build()` into an OCI layout, the layer tars of the result read
 * entry by entry, `umoci unpack` of the result and running it with real runc, and a bundled CLI
 * that an unprivileged user can execute (the rootless path re-executes itself inside a user
 * namespace, so it needs a real entry file, not vitest's module graph).
 */
import { execFile, spawn } from 'node:child_process';
import { createReadStream, existsSync, readdirSync } from 'node:fs';
import { chmod, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGunzip } from 'node:zlib';
import tar from 'tar-stream';
import { build, type BuildOptions, type BuildResult } from '@build-image/builder';
import type { ProgressEvent } from '../../packages/builder/src/progress/events.js';
import { tmpfsStateDir } from '../../packages/builder/src/executor/index.js';
import { makeBusyboxImage } from './busybox-image.js';
import { makeTempDir, writeTree, type Tree } from './tmp.js';

const execFileP = promisify(execFile);
export const REPO = path.resolve(import.meta.dirname, '../..');

export type SnapshotterMode = 'overlay' | 'copy';
/** Both snapshotters, for `describe.each`. */
export const SNAPSHOTTERS: SnapshotterMode[] = ['overlay', 'copy'];

/**
 * RUN changes to earlier layers' files. The first RUN prepares a "base" with its own layer, the
 * second changes it: what the second layer holds is a RUN's diff against earlier layers.
 */
export const FS_CHANGES_DOCKERFILE = `FROM busybox
RUN mkdir -p /data/repl /data/keepdir /data/gone && \\
    echo original > /data/mod && echo bye > /data/del && echo x > /data/repl/old && \\
    echo k > /data/keepdir/k && echo g > /data/gone/g && echo c > /data/chm && echo o > /data/own
RUN echo more >> /data/mod && rm /data/del && rm -rf /data/gone && \\
    rm -rf /data/repl && mkdir /data/repl && echo new > /data/repl/new && \\
    ln -s ../mod /data/keepdir/link && echo h > /data/hard1 && ln /data/hard1 /data/hard2 && \\
    chmod 0600 /data/chm && chown 1000:1000 /data/own && \\
    echo a > /data/app && chown 1000:1000 /data/app && echo n > /data/nobody && chown 65534:65534 /data/nobody && \\
    mkdir /data/appdir && chown 1000:1000 /data/appdir && chmod 0750 /data/appdir && \\
    chmod 4755 /data/app && touch /data/empty
CMD ["sh", "-c", "cat /data/mod /data/repl/new; ls /data | tr '\\\\n' ' '"]
`;

/** What the image of {@link FS_CHANGES_DOCKERFILE} prints when run. */
export const FS_CHANGES_OUTPUT = 'original\nmore\nnew\napp appdir chm empty hard1 hard2 keepdir mod nobody own repl ';

/** The shared busybox base as an OCI layout (read-only; tag `latest`). */
export async function busyboxLayout(): Promise<string> {
  return (await makeBusyboxImage()).layoutDir;
}

/** The `--build-context busybox=oci-layout://…:latest` spec, for `FROM busybox`. */
export async function busyboxContext(): Promise<NonNullable<BuildOptions['buildContexts']>[number]> {
  return { name: 'busybox', kind: 'oci-layout', dir: await busyboxLayout(), tag: 'latest' };
}

export interface E2EBuild {
  result: BuildResult;
  /** OCI layout written by the build, image tagged `latest`. */
  layout: string;
  contextDir: string;
  events: ProgressEvent[];
  /** Every step-output text concatenated. */
  output: string;
}

export interface E2EBuildOptions extends Omit<BuildOptions, 'context' | 'dockerfile'> {
  dockerfile: string;
  /** Context files besides the Dockerfile. */
  files?: Tree;
  /** Reuse this context dir instead of making one. */
  contextDir?: string;
}

/** Builds `dockerfile` (with `FROM busybox` resolving to the shared base) into a fresh OCI layout. */
export async function e2eBuild(opts: E2EBuildOptions): Promise<E2EBuild> {
  const { dockerfile, files, contextDir: given, ...rest } = opts;
  const contextDir = given ?? (await makeTempDir('e2e-ctx-'));
  if (!given) await writeTree(contextDir, { ...files, Dockerfile: dockerfile });
  const layout = path.join(await makeTempDir('e2e-out-'), 'layout');
  const events: ProgressEvent[] = [];
  const result = await build({
    ...rest,
    context: contextDir,
    buildContexts: [await busyboxContext(), ...(rest.buildContexts ?? [])],
    outputs: [{ type: 'oci', dest: layout, tar: false, names: ['latest'], attrs: {} }],
    onProgress: (e) => {
      events.push(e);
      rest.onProgress?.(e);
    },
  });
  const output = events.map((e) => (e.type === 'step-output' ? e.text : '')).join('');
  return { result, layout, contextDir, events, output };
}

/** One entry of a layer tar. `data` is the content of regular files. */
export interface LayerEntry {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  linkname?: string;
  size: number;
  data?: Buffer;
}

interface Manifest {
  config: { digest: string };
  layers: Array<{ digest: string; mediaType: string }>;
}

function blobPath(layout: string, digest: string): string {
  return path.join(layout, 'blobs', 'sha256', digest.replace(/^sha256:/, ''));
}

/** The manifest of the image tagged `tag` in an OCI layout. */
export async function readManifest(layout: string, tag = 'latest'): Promise<Manifest> {
  const index = JSON.parse(await readFile(path.join(layout, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string; annotations?: Record<string, string> }> };
  const desc = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag) ?? index.manifests[0]!;
  return JSON.parse(await readFile(blobPath(layout, desc.digest), 'utf8')) as Manifest;
}

/** The image config JSON text and parsed value. */
export async function readConfig(layout: string, tag = 'latest'): Promise<{ text: string; config: { config?: Record<string, unknown>; history?: Array<{ created_by?: string; empty_layer?: boolean }> } }> {
  const text = await readFile(blobPath(layout, (await readManifest(layout, tag)).config.digest), 'utf8');
  return { text, config: JSON.parse(text) };
}

/** Reads one layer blob (gzip or plain tar) entry by entry; keeps file contents (test layers are small). */
export async function readLayer(layout: string, digest: string): Promise<LayerEntry[]> {
  const entries: LayerEntry[] = [];
  const extract = tar.extract();
  extract.on('entry', (h, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: unknown) => void chunks.push(c as Buffer));
    stream.on('end', () => {
      entries.push({
        name: h.name.replace(/\/$/, ''),
        type: h.type ?? 'file',
        mode: (h.mode ?? 0) & 0o7777,
        uid: h.uid ?? 0,
        gid: h.gid ?? 0,
        ...(h.linkname ? { linkname: h.linkname } : {}),
        size: h.size ?? 0,
        ...(h.type === 'file' || h.type === undefined ? { data: Buffer.concat(chunks) } : {}),
      });
      next();
    });
  });
  const src = createReadStream(blobPath(layout, digest));
  const head = await readFile(blobPath(layout, digest)).then((b) => b.subarray(0, 2));
  if (head[0] === 0x1f && head[1] === 0x8b) await pipeline(src, createGunzip(), extract);
  else await pipeline(src, extract);
  return entries;
}

/** The layers the build added on top of the busybox base (its first layer), in order. */
export async function addedLayers(layout: string, tag = 'latest'): Promise<LayerEntry[][]> {
  const m = await readManifest(layout, tag);
  const base = (await makeBusyboxImage()).layerDigest;
  const out: LayerEntry[][] = [];
  for (const l of m.layers) if (l.digest !== base) out.push(await readLayer(layout, l.digest));
  return out;
}

/** Every blob of the layout decompressed (layers) or raw (configs, manifests), for grepping secrets. */
export async function allBlobTexts(layout: string): Promise<Array<{ digest: string; bytes: Buffer }>> {
  const { readdir } = await import('node:fs/promises');
  const { gunzipSync } = await import('node:zlib');
  const dir = path.join(layout, 'blobs', 'sha256');
  const out: Array<{ digest: string; bytes: Buffer }> = [];
  for (const name of await readdir(dir)) {
    const raw = await readFile(path.join(dir, name));
    out.push({ digest: `sha256:${name}`, bytes: raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw });
  }
  return out;
}

/** `umoci unpack` of the layout's `tag` into a fresh bundle; umoci also validates the image strictly. */
export async function unpack(layout: string, tag = 'latest'): Promise<string> {
  const bundle = path.join(await makeTempDir('e2e-bundle-'), 'bundle');
  try {
    await execFileP('umoci', ['unpack', '--image', `${layout}:${tag}`, bundle]);
  } catch (e) {
    throw new Error(`umoci unpack ${layout}:${tag} failed: ${(e as { stderr?: string }).stderr ?? String(e)}`);
  }
  return bundle;
}

let runSeq = 0;
/**
 * Runs an unpacked bundle with runc (not a terminal) and returns its output and exit code.
 * `args` replaces the image's entrypoint+cmd when given.
 */
export async function runBundle(bundle: string, args?: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const configPath = path.join(bundle, 'config.json');
  const spec = JSON.parse(await readFile(configPath, 'utf8')) as { process: { terminal: boolean; args: string[] } };
  spec.process.terminal = false;
  if (args) spec.process.args = args;
  await writeFile(configPath, JSON.stringify(spec));
  const state = await makeTempDir('e2e-runc-');
  const id = `e2e-${process.pid}-${++runSeq}`;
  return new Promise((resolve, reject) => {
    const child = spawn('runc', ['--root', state, 'run', '--bundle', bundle, id], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Unpacks and runs the image's default command; returns its stdout (fails on a non-zero exit). */
export async function runImage(layout: string, args?: string[]): Promise<string> {
  const r = await runBundle(await unpack(layout), args);
  if (r.code !== 0) throw new Error(`image exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

let bundled: Promise<string> | undefined;
/**
 * The CLI bundled with esbuild into one file under a world-readable temp dir (the sources as they
 * are now, not a possibly stale dist/), for running as another user.
 */
export function cliBundle(): Promise<string> {
  return (bundled ??= (async () => {
    const dir = await makeTempDir('e2e-cli-');
    await chmod(dir, 0o755);
    const out = path.join(dir, 'build-image.mjs');
    const esbuild = path.join(REPO, 'node_modules/.bin/esbuild');
    // Third-party packages stay external (one has a native addon) and resolve through a
    // node_modules link next to the bundle; the workspace packages are bundled from source.
    const pkg = JSON.parse(await readFile(path.join(REPO, 'packages/builder/package.json'), 'utf8')) as { dependencies?: Record<string, string> };
    const external = Object.keys(pkg.dependencies ?? {}).filter((d) => !d.startsWith('@build-image/'));
    await symlink(path.join(REPO, 'node_modules'), path.join(dir, 'node_modules'));
    await execFileP(esbuild, [
      path.join(REPO, 'packages/builder/src/cli/main.ts'),
      '--bundle',
      '--platform=node',
      '--format=esm',
      '--target=node20',
      '--conditions=source',
      `--outfile=${out}`,
      '--log-level=error',
      ...external.map((d) => `--external:${d}`),
    ], { cwd: REPO });
    await chmod(out, 0o644);
    return out;
  })());
}

/** Makes a directory tree readable and writable by `uid:gid` (for the unprivileged user's cache and outputs). */
export async function giveTo(dir: string, uid: number, gid: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  await execFileP('chown', ['-R', `${uid}:${gid}`, dir]);
  // Parents made by makeTempDir are 0700.
  await chmod(dir, 0o755);
}

/** Path of mount points below `dir` in this process's mount table. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => p === dir || p.startsWith(dir + '/'));
}

/**
 * Asserts that a finished build with `cacheDir` left no runtime state: its state dir (on tmpfs, or
 * `<cache>/runtime` where there is none) is removed at the end of every build unless a container
 * or bundle is still in it, so its absence means none is. When it is there, the error lists what
 * runc still knows of.
 */
export async function expectNoRuntimeState(cacheDir: string): Promise<void> {
  for (const dir of [tmpfsStateDir(cacheDir), path.join(cacheDir, 'runtime')]) {
    if (!existsSync(dir)) continue;
    const containers = await runcContainers(path.join(dir, 'runc'));
    throw new Error(`the build left its runtime state dir ${dir} behind (runc containers: ${containers.join(', ') || 'none'}; entries: ${readdirSync(dir).join(', ')})`);
  }
}

/** Container ids runc still knows under `stateDir`. */
export async function runcContainers(stateDir: string): Promise<string[]> {
  try {
    const { stdout } = await execFileP('runc', ['--root', stateDir, 'list', '-q']);
    return stdout.split('\n').filter(Boolean);
  } catch {
    return [];
  }
}
