/**
 * Shared helpers of the end-to-end tests (`test/e2e-*.test.ts`): build through the public
 * `build()` API or the CLI's in-process `main()`, check the result with independent tools
 * (`umoci unpack` in strict mode, `skopeo inspect`), and describe a root filesystem entry by entry
 * so tests can compare it with what BuildKit produces.
 *
 * @example
 * ```ts
 * const b = await buildImage({ dockerfile: 'FROM scratch\nCOPY a /a\n', files: { a: 'x' } });
 * const fs = await listTree((await unpackLayout(b.layoutDir)).rootfs);
 * expect(fs['a']).toEqual({ type: 'file', mode: '0644', uid: 0, gid: 0, content: 'x' });
 * ```
 */
import { execFile } from 'node:child_process';
import { lstat, mkdir, readdir, readFile, readlink } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build, type BuildOptions, type BuildResult, type ProgressEvent } from '@build-image/builder';
// The CLI is not part of the library's index; tests run it in-process from its source.
import { main as cliMain } from '../../packages/builder/src/cli/main.js';
import { makeTempDir, writeTree, type Tree } from './tmp.js';

const execFileP = promisify(execFile);

/** The repository root (`/work/main`). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The shared conformance data, read in place. */
export const CONFORMANCE_DIR = path.resolve(REPO_ROOT, '../shared/conformance');

/** Runs a command; rejects with its stderr in the message. */
export async function run(cmd: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  try {
    const { stdout } = await execFileP(cmd, args, { maxBuffer: 64 << 20, ...options });
    return stdout;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')} failed: ${err.stderr || err.message}`);
  }
}

/** Options of {@link buildImage}: `build()`'s, plus an inline context. */
export interface BuildImageOptions extends Partial<BuildOptions> {
  /** Context files (written into a fresh temp dir unless `context` is given). */
  files?: Tree;
  /** Where the OCI layout goes (default a fresh temp dir). */
  layoutDir?: string;
  /** Tag in the layout (default `e2e:latest`, so `umoci unpack --image DIR:latest`). */
  tag?: string;
}

/** What {@link buildImage} returns. */
export interface BuiltImage {
  result: BuildResult;
  /** OCI layout directory written by the build (tag `latest` unless told otherwise). */
  layoutDir: string;
  context: string;
  cacheDir: string;
  events: ProgressEvent[];
}

/**
 * Builds with the library's `build()` into an OCI layout directory (a fresh cache dir unless
 * `cacheDir` is given) and records the progress events.
 */
export async function buildImage(options: BuildImageOptions): Promise<BuiltImage> {
  const { files, layoutDir: wantedLayout, tag, ...rest } = options;
  const context = rest.context ?? (await makeTempDir('e2e-ctx-'));
  if (files) await writeTree(context, files);
  const cacheDir = rest.cacheDir ?? (await makeTempDir('e2e-cache-'));
  const layoutDir = wantedLayout ?? path.join(await makeTempDir('e2e-out-'), 'layout');
  const events: ProgressEvent[] = [];
  const result = await build({
    ...rest,
    context,
    cacheDir,
    outputs: [...(rest.outputs ?? []), { type: 'oci', dest: layoutDir, tar: false, names: [tag ?? 'e2e:latest'], attrs: {} }],
    onProgress: (e) => {
      events.push(e);
      rest.onProgress?.(e);
    },
  });
  return { result, layoutDir, context, cacheDir, events };
}

/** Runs the CLI in-process (`build-image ARGV…`) and collects its output. */
export async function runCli(argv: string[], options: { cwd?: string; env?: Record<string, string | undefined> } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await cliMain(argv, {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    env: { ...process.env, ...options.env },
    cwd: options.cwd ?? process.cwd(),
    readFile: (p) => readFile(p, 'utf8'),
  });
  return { code, stdout, stderr };
}

/** An OCI image read back from a layout directory. */
export interface LayoutImage {
  index: { manifests: Array<{ digest: string; mediaType: string; annotations?: Record<string, string> }> };
  manifestDigest: string;
  manifest: { mediaType?: string; config: { digest: string; mediaType: string }; layers: Array<{ digest: string; mediaType: string; size: number }> };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  config: any;
}

/** Reads index.json → manifest (the one tagged `tag`, or the first) → config from a layout dir. */
export async function readLayout(layoutDir: string, tag?: string): Promise<LayoutImage> {
  const index = JSON.parse(await readFile(path.join(layoutDir, 'index.json'), 'utf8')) as LayoutImage['index'];
  const desc = (tag ? index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === tag) : undefined) ?? index.manifests[0];
  if (!desc) throw new Error(`no manifest in ${layoutDir}/index.json`);
  const blob = async (d: string) => JSON.parse(await readFile(path.join(layoutDir, 'blobs', ...d.split(':')), 'utf8'));
  const manifest = (await blob(desc.digest)) as LayoutImage['manifest'];
  return { index, manifestDigest: desc.digest, manifest, config: await blob(manifest.config.digest) };
}

/** Extracts an OCI archive (`type=oci` tar) into a layout directory. */
export async function extractOciTar(tarFile: string): Promise<string> {
  const dir = path.join(await makeTempDir('e2e-ocitar-'), 'layout');
  await mkdir(dir);
  await run('tar', ['-xf', tarFile, '-C', dir]);
  return dir;
}

/**
 * Validates `layoutDir:tag` with `skopeo inspect oci:` and unpacks it with `umoci unpack` (which
 * verifies every blob's digest and size against its descriptor and refuses malformed layers)
 * into a fresh bundle; returns the bundle's rootfs.
 */
export async function unpackLayout(layoutDir: string, tag = 'latest'): Promise<{ bundle: string; rootfs: string }> {
  // skopeo reads the layout independently: it must find the same manifest under the tag.
  const { manifestDigest } = await readLayout(layoutDir, tag);
  const inspected = await skopeoInspect(`oci:${layoutDir}:${tag}`);
  if (inspected.Digest !== manifestDigest) throw new Error(`skopeo inspect oci:${layoutDir}:${tag} found ${inspected.Digest}, index.json names ${manifestDigest}`);
  const bundle = path.join(await makeTempDir('e2e-bundle-'), 'bundle');
  await run('umoci', ['unpack', '--image', `${layoutDir}:${tag}`, bundle]);
  return { bundle, rootfs: path.join(bundle, 'rootfs') };
}

/** `skopeo inspect` (image JSON, or `--config` for the config) of a transport reference (`oci:DIR:TAG`, `oci-archive:F`, `docker://…`). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function skopeoInspect(ref: string, extra: string[] = []): Promise<any> {
  return JSON.parse(await run('skopeo', ['inspect', ...extra, ref]));
}

/** One entry of a root filesystem. `mode` is the permission bits (with setuid/setgid/sticky) in octal. */
export interface TreeEntryInfo {
  type: 'file' | 'dir' | 'symlink' | 'other';
  mode: string;
  uid: number;
  gid: number;
  /** Files: their content as UTF-8 (or `<N bytes>` when larger than 4 KiB). */
  content?: string;
  /** Symlinks: the target. */
  link?: string;
  /** Files: the link count when > 1 (hard links). */
  nlink?: number;
}

/**
 * Every entry under `root` keyed by its relative path (no leading `/`), without descending into
 * the directories in `skip` (those are still listed themselves).
 */
export async function listTree(root: string, options: { skip?: string[] } = {}): Promise<Record<string, TreeEntryInfo>> {
  const out: Record<string, TreeEntryInfo> = {};
  const skip = new Set(options.skip ?? []);
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(path.join(root, rel))).sort();
    for (const name of names) {
      const r = rel ? `${rel}/${name}` : name;
      const abs = path.join(root, r);
      const st = await lstat(abs);
      const info: TreeEntryInfo = {
        type: st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other',
        mode: (st.mode & 0o7777).toString(8).padStart(4, '0'),
        uid: st.uid,
        gid: st.gid,
      };
      if (st.isFile()) {
        info.content = st.size > 4096 ? `<${st.size} bytes>` : await readFile(abs, 'utf8');
        if (st.nlink > 1) info.nlink = st.nlink;
      }
      if (st.isSymbolicLink()) info.link = await readlink(abs);
      out[r] = info;
      if (st.isDirectory() && !skip.has(r)) await walk(r);
    }
  };
  await walk('');
  return out;
}

/** Entries of `tree` under `prefix` (inclusive), keyed as in the tree. */
export function under(tree: Record<string, TreeEntryInfo>, prefix: string): Record<string, TreeEntryInfo> {
  return Object.fromEntries(Object.entries(tree).filter(([k]) => k === prefix || k.startsWith(prefix + '/')));
}

/** Shorthand for a file entry in expectations. */
export function file(content: string, mode = '0644', uid = 0, gid = 0): TreeEntryInfo {
  return { type: 'file', mode, uid, gid, content };
}
/** Shorthand for a directory entry in expectations. */
export function dir(mode = '0755', uid = 0, gid = 0): TreeEntryInfo {
  return { type: 'dir', mode, uid, gid };
}
/** Shorthand for a symlink entry in expectations. */
export function symlinkTo(link: string, uid = 0, gid = 0): TreeEntryInfo {
  return { type: 'symlink', mode: '0777', uid, gid, link };
}

/** The step events of one build, by step name. */
export function stepEvents(events: ProgressEvent[]): Array<{ name: string; stage: string; cached: boolean; start?: number; done?: number; miss?: string[] }> {
  const byId = new Map<number, { name: string; stage: string; cached: boolean; start?: number; done?: number; miss?: string[] }>();
  for (const e of events) {
    if (e.type !== 'step-start' && e.type !== 'step-done' && e.type !== 'step-cached') continue;
    const s = byId.get(e.step.id) ?? { name: e.step.name, stage: e.step.stage, cached: false };
    if (e.type === 'step-start') s.start = e.time;
    if (e.type === 'step-done') {
      s.done = e.time;
      if (e.miss) s.miss = e.miss;
    }
    if (e.type === 'step-cached') s.cached = true;
    byId.set(e.step.id, s);
  }
  return [...byId.entries()].sort(([a], [b]) => a - b).map(([, s]) => s);
}
