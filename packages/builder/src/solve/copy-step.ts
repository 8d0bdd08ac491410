/**
 * COPY and ADD: sources selected from the build context (with .dockerignore), a named context,
 * another stage or an image; heredoc sources; ADD's local archives (unpacked) and URLs (with
 * --checksum). The key covers what reaches the layer: the content hash of every selected file
 * (never mtimes), the destination, --chown/--chmod/--link/--parents/--exclude.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, rm, utimes, writeFile, chmod as fsChmod } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { KeyPart } from '@build-image/cache';
import { BuildError } from '@build-image/errors';
import { parseChmod, type AddInstruction, type ChmodSpec, type CopyInstruction, type StepSource } from '@build-image/parser';
import { hashSelection, selectSources, type Selection } from '../context/index.js';
import { copyIntoRoot, mkdirAllInRoot, type Owner } from '../fileop/copy.js';
import { resolveChown } from '../fileop/chown.js';
import { resolveInRoot } from '../rootfs/resolve.js';
import { applyLayer, decompressedStream, detectCompression } from '../layer/index.js';
import type { MutableSnapshot } from '../snapshot/index.js';
import type { LayerOp, StepContext } from './solver.js';
import type { SourceRoot, SourceRoots } from './source-roots.js';

export interface CopyStepDeps {
  roots: SourceRoots;
}

/**
 * BuildKit `pathRelativeToWorkingDir`: relative destinations join WORKDIR; a trailing `/` is kept.
 *
 * @example
 * ```ts
 * resolveDest('/app', 'src/') // '/app/src/'
 * resolveDest('/app', 'x')    // '/app/x'
 * ```
 */
export function resolveDest(workdir: string, dest: string): string {
  const trailing = dest.endsWith('/') || dest === '.' || dest === '' || dest.endsWith('/.');
  const joined = dest.startsWith('/') ? dest : path.posix.join(workdir || '/', dest);
  const clean = path.posix.normalize(joined);
  return trailing && !clean.endsWith('/') ? clean + '/' : clean;
}

function isUrl(s: string): boolean {
  return /^https?:\/\//i.test(s);
}

function isGit(s: string): boolean {
  return /^git@|^git:\/\/|\.git(#|$)|^https?:\/\/[^/]+\/[^/]+\/[^/]+\.git/.test(s);
}

/**
 * The COPY/ADD step module: a {@link LayerOpFactory} the solver calls for each COPY or ADD step.
 *
 * @example
 * ```ts
 * const solver = new Solver({ ...options, layerOps: { COPY: copyStep({ roots }), ADD: copyStep({ roots }) } })
 * ```
 */
export function copyStep(deps: CopyStepDeps) {
  return async (ctx: StepContext): Promise<LayerOp> => {
    const { step, state } = ctx;
    const ins = step.instruction as CopyInstruction | AddInstruction;
    const isAdd = ins.kind === 'ADD';
    const workdir = state.config.config?.WorkingDir || '/';
    const dest = resolveDest(workdir, ins.dest);
    const source: StepSource = step.source ?? { kind: 'context' };
    // The graph validated --chmod (step.chmod); ONBUILD-injected steps may only have the text.
    const mode: ChmodSpec | undefined = step.chmod ?? (ins.chmod ? parseChmod(ins.chmod) : undefined);
    const urls = isAdd ? ins.sources.filter(isUrl) : [];
    const localSources = ins.sources.filter((s) => !(isAdd && isUrl(s)));
    for (const s of ins.sources) {
      if (isGit(s)) throw new BuildError('E_UNSUPPORTED', `ADD of a git repository (${s}) is not supported yet; clone it in a RUN step or a separate context`, { location: step.location });
      if (!isAdd && isUrl(s)) throw new BuildError('E_SOURCE_URL', `source can't be a URL for COPY: ${s} (use ADD)`, { location: step.location });
    }
    const cleanup: Array<() => Promise<void>> = [];
    const dispose = async () => {
      for (const c of cleanup.splice(0).reverse()) await c().catch(() => undefined);
    };
    try {
      // Trees that change between builds (the context, a named local directory) enter the key by
      // the content of the selected files. A stage or an image is identified by its own key or
      // digest, which fixes its content, so its files are only opened when the step runs: a
      // cached COPY --from never mounts or walks the other stage.
      const hashAtKeyTime = source.kind === 'context' || deps.roots.isLocal(source);
      const keyRoot = localSources.length && hashAtKeyTime ? await deps.roots.open(ctx, source, cleanup) : undefined;
      const keySelection = keyRoot ? await select(keyRoot, ins, localSources, ctx) : undefined;
      const downloads = await Promise.all(urls.map((u) => download(u, isAdd ? (ins as AddInstruction).checksum : undefined, cleanup, ctx)));
      const heredocs = await writeHeredocs(ins, cleanup);

      const octal = mode?.kind === 'octal' ? mode.mode : undefined;
      const hashed = keySelection
        ? await hashSelection(keySelection, { preserveOwner: keyRoot!.preserveOwner, ...(octal !== undefined ? { chmod: octal } : {}), ...(deps.roots.statCache && source.kind === 'context' ? { statCache: deps.roots.statCache } : {}) })
        : undefined;
      if (hashed && source.kind === 'context') await deps.roots.statCache?.save();

      const parts: KeyPart[] = [
        {
          type: 'op',
          value: JSON.stringify({
            kind: ins.kind,
            dest,
            chown: ins.chown ?? null,
            chmod: ins.chmod ?? null,
            link: ins.link,
            parents: ins.kind === 'COPY' ? ins.parents : false,
            exclude: ins.exclude,
            sources: ins.sources,
            unpack: isAdd ? ((ins as AddInstruction).unpack ?? null) : null,
            heredocs: heredocs.map((h) => ({ name: h.name, sha: h.sha })),
            urls: downloads.map((d) => ({ url: d.url, sha: d.sha })),
          }),
        },
        ...(hashed ? [{ type: 'files', name: 'sources', entries: keyEntries(hashed.files) } as KeyPart] : []),
        ...(source.kind !== 'context' ? [{ type: 'input', name: 'from', value: await sourceIdentity(ctx, deps, source) } as KeyPart] : []),
      ];

      return {
        parts,
        independent: ins.link && !ins.chmod,
        createdBy: createdBy(ins),
        buildkitSuffix: true,
        dispose,
        run: async (snapshot: MutableSnapshot) => {
          const root = keyRoot ?? (localSources.length ? await deps.roots.open(ctx, source, cleanup) : undefined);
          const selection = keySelection ?? (root ? await select(root, ins, localSources, ctx) : undefined);
          const destRoot = snapshot.mergedDir;
          const owner = ins.chown ? await resolveChown(ins.link ? await chownRoot(ctx, cleanup) : destRoot, ins.chown) : undefined;
          const base = { destRoot, followSymlinks: true, preserveOwner: root?.preserveOwner ?? false, ...(owner ? { owner } : {}), ...(mode ? { mode } : {}) };
          const manySources = ins.sources.length + ins.heredocSources.length > 1;
          if (manySources && !dest.endsWith('/')) {
            throw new BuildError('E_COPY_DEST', `When using ${ins.kind} with more than one source file, the destination must be a directory and end with a /`, { location: step.location });
          }
          if (selection && root) {
            for (const src of selection.sources) {
              for (const match of src.matches) {
                const keep = new Set(match.entries.map((e) => e.entry.path));
                const matchDest = ins.kind === 'COPY' && ins.parents ? parentsDest(dest, src.source, match.matched, match.entries) : dest;
                const single = match.entries.length === 1 && match.entries[0]!.entry.type !== 'dir' ? match.entries[0]!.entry : undefined;
                if (isAdd && single?.type === 'file' && ((ins as AddInstruction).unpack ?? true) && (await isArchive(path.join(root.dir, match.resolved)))) {
                  await unpackArchive(path.join(root.dir, match.resolved), destRoot, dest, owner);
                  continue;
                }
                await copyIntoRoot({
                  ...base,
                  srcRoot: root.dir,
                  src: '/' + match.resolved,
                  dest: matchDest,
                  copyDirContents: true,
                  filter: ({ rel }) => ({ include: keep.has(rel), descend: true }),
                });
              }
            }
          }
          for (const d of downloads) {
            if (isAdd && (ins as AddInstruction).unpack && (await isArchive(d.file))) {
              await unpackArchive(d.file, destRoot, dest, owner);
              continue;
            }
            await copyIntoRoot({ ...base, srcRoot: path.dirname(d.file), src: '/' + path.basename(d.file), dest, copyDirContents: true, preserveOwner: false });
          }
          for (const h of heredocs) {
            await copyIntoRoot({ ...base, srcRoot: h.dir, src: '/' + h.name, dest, copyDirContents: true, preserveOwner: false });
          }
        },
      };
    } catch (e) {
      await dispose();
      throw e;
    }
  };
}

/**
 * The key's file list: one entry per distinct context path (and copy path). Several sources may
 * select the same entry — `COPY --parents a/x b/y /d/` walks the context root once per source,
 * `COPY f f /d/` names a file twice — and BuildKit copies it again, to the same result, so a
 * repeat adds nothing to the key; a same-named entry that differs keeps a numbered name.
 */
function keyEntries(files: ReadonlyArray<{ path: string; copyPath: string; hash: string; mode: number }>): Array<{ path: string; hash: string; mode: number }> {
  const byPath = new Map<string, { path: string; hash: string; mode: number }>();
  for (const f of files) {
    const name = f.path + (f.copyPath === '.' || f.copyPath === f.path ? '' : ` -> ${f.copyPath}`);
    const seen = byPath.get(name);
    if (seen && seen.hash === f.hash && seen.mode === f.mode) continue;
    let unique = name;
    for (let n = 2; byPath.has(unique); n++) unique = `${name} #${n}`;
    byPath.set(unique, { path: unique, hash: f.hash, mode: f.mode });
  }
  return [...byPath.values()];
}

async function select(root: SourceRoot, ins: CopyInstruction | AddInstruction, sources: string[], ctx: StepContext): Promise<Selection> {
  const context = await root.context();
  return selectSources(context, {
    sources,
    excludes: ins.exclude,
    parents: ins.kind === 'COPY' ? ins.parents : false,
    followSymlinks: true,
    location: ctx.step.location,
  });
}

async function sourceIdentity(ctx: StepContext, deps: CopyStepDeps, source: StepSource): Promise<string> {
  return deps.roots.identity(ctx, source, '/');
}

/** --link with a named --chown: names are looked up in the stage's current root filesystem. */
async function chownRoot(ctx: StepContext, cleanup: Array<() => Promise<void>>): Promise<string> {
  const snap = await ctx.solver.prepare(ctx.state.layers);
  cleanup.push(() => snap.release());
  return snap.mergedDir;
}

/** `--parents`: the part of the matched path after the `/./` pivot (or all of it) is kept under dest. */
function parentsDest(dest: string, source: string, matched: string, entries: ReadonlyArray<{ path: string; entry: { type: string } }>): string {
  const pivotIndex = source.indexOf('/./');
  const pivot = pivotIndex >= 0 ? path.posix.normalize(source.slice(0, pivotIndex)).replace(/^\/+/, '').replace(/^\.$/, '') : '';
  let rel = matched;
  if (pivot && (rel === pivot || rel.startsWith(pivot + '/'))) rel = rel.slice(pivot.length).replace(/^\/+/, '');
  const isDir = entries.some((e) => e.path === '.' && e.entry.type === 'dir');
  const keep = isDir ? rel : path.posix.dirname(rel);
  const base = dest.endsWith('/') ? dest : dest + '/';
  return keep === '.' || keep === '' ? base : path.posix.join(base, keep) + '/';
}

/** BuildKit's history text: `COPY [--parents] [--chown=u] [--chmod=m] src... [<<H...] dest` (no --from). */
function createdBy(ins: CopyInstruction | AddInstruction): string {
  const parts: string[] = [ins.kind];
  if (ins.kind === 'COPY' && ins.parents) parts.push('--parents');
  if (ins.chown) parts.push(`--chown=${ins.chown}`);
  if (ins.chmod) parts.push(`--chmod=${ins.chmod}`);
  parts.push(...ins.sources, ...ins.heredocSources.map((h) => `<<${h.path}`), ins.dest);
  return parts.join(' ');
}

interface WrittenHeredoc {
  dir: string;
  name: string;
  sha: string;
}

/** Heredoc sources become files (mode 0644, BuildKit's Mkfile) in a private temp dir. */
async function writeHeredocs(ins: CopyInstruction | AddInstruction, cleanup: Array<() => Promise<void>>): Promise<WrittenHeredoc[]> {
  if (!ins.heredocSources.length) return [];
  const dir = await mkdtemp(path.join(os.tmpdir(), 'build-image-heredoc-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const out: WrittenHeredoc[] = [];
  for (const h of ins.heredocSources) {
    const name = path.posix.basename(h.path);
    const file = path.join(dir, name);
    await writeFile(file, h.data);
    await fsChmod(file, 0o644);
    out.push({ dir, name, sha: createHash('sha256').update(h.data).digest('hex') });
  }
  return out;
}

interface Download {
  url: string;
  file: string;
  sha: string;
}

/**
 * ADD <url>: downloaded once per step into a private temp dir (file named after the URL's last
 * path segment, `__unnamed__` otherwise), mode 0600 and mtime from Last-Modified as BuildKit's
 * HTTP source does; `--checksum` is verified before anything is copied.
 */
async function download(url: string, checksum: string | undefined, cleanup: Array<() => Promise<void>>, ctx: StepContext): Promise<Download> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'build-image-add-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  let name = '__unnamed__';
  try {
    const base = path.posix.basename(new URL(url).pathname);
    if (base && base !== '/' && base !== '.') name = base;
  } catch {
    /* keep the default name */
  }
  const file = path.join(dir, name);
  const res = await fetch(url, { signal: ctx.solver.signal }).catch((e: unknown) => {
    throw new BuildError('E_ADD_URL', `failed to download ${url}: ${(e as Error).message}`, { location: ctx.step.location, cause: e });
  });
  if (!res.ok || !res.body) throw new BuildError('E_ADD_URL', `failed to download ${url}: HTTP ${res.status} ${res.statusText}`, { location: ctx.step.location, data: { status: res.status } });
  const hash = createHash('sha256');
  await pipeline(
    Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>),
    async function* (src: AsyncIterable<Buffer>) {
      for await (const chunk of src) {
        hash.update(chunk);
        yield chunk;
      }
    },
    createWriteStream(file, { mode: 0o600 }),
  );
  const sha = hash.digest('hex');
  if (checksum && checksum !== `sha256:${sha}`) {
    throw new BuildError('E_CHECKSUM', `digest mismatch for ${url}: expected ${checksum}, got sha256:${sha}`, { location: ctx.step.location, data: { expected: checksum, actual: `sha256:${sha}` } });
  }
  const lastModified = res.headers.get('last-modified');
  if (lastModified && !Number.isNaN(Date.parse(lastModified))) {
    const t = new Date(lastModified);
    await utimes(file, t, t);
  }
  return { url, file, sha };
}

/**
 * The tar stream inside a local archive: plain, gzip or zstd through the layer decompressor,
 * bzip2 and xz through the system's `bzip2`/`xz` (go-archive's DecompressStream also reads them).
 */
async function archiveTar(file: string): Promise<Readable> {
  const fh = await open(file, 'r');
  let kind: ReturnType<typeof detectCompression>;
  try {
    const head = Buffer.alloc(16);
    const { bytesRead } = await fh.read(head, 0, 16, 0);
    kind = detectCompression(head.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
  if (kind === 'bzip2' || kind === 'xz') {
    const child = spawn(kind, ['-dc', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    // Consumed from the start: Node resumes (and so drops) a child's unread stdout when it exits.
    const out = new PassThrough();
    child.stdout.pipe(out);
    child.on('error', (e) => out.destroy(e));
    child.on('close', (code) => {
      if (code !== 0 && code !== null) out.destroy(new BuildError('E_ADD_ARCHIVE', `${kind} -dc ${path.basename(file)} failed (${code}): ${stderr.trim()}`));
    });
    out.on('close', () => child.kill());
    return out;
  }
  return decompressedStream(createReadStream(file));
}

/**
 * BuildKit's `isArchivePath`: a regular file is an archive ADD unpacks when it decompresses and
 * a first tar header reads from it. Anything else — a gzip of plain text, a `.tar` that is not
 * one, an empty tar — is copied as it is.
 */
async function isArchive(file: string): Promise<boolean> {
  let input: Readable;
  try {
    input = await archiveTar(file);
  } catch {
    return false;
  }
  const extract = tar.extract();
  try {
    return await new Promise<boolean>((resolve) => {
      extract.once('entry', () => resolve(true));
      extract.once('finish', () => resolve(false));
      extract.once('error', () => resolve(false));
      input.once('error', () => resolve(false));
      input.pipe(extract);
    });
  } finally {
    input.unpipe(extract);
    input.destroy();
    extract.destroy();
  }
}

/** Extracts an archive into `dest` inside the root, confined to the root like a layer. */
async function unpackArchive(file: string, destRoot: string, dest: string, owner: Owner | undefined): Promise<void> {
  await mkdirAllInRoot(destRoot, dest, 0o755, owner ?? { uid: 0, gid: 0 });
  const target = await resolveInRoot(destRoot, dest);
  await applyLayer(target, await archiveTar(file), { whiteouts: 'none', ...(owner ? { owner } : {}) });
}
