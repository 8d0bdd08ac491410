/**
 * The file trees a step can read besides its own root filesystem: the build context, a named
 * local context, another stage, an image, or nothing (scratch). COPY --from and RUN --mount
 * both go through here, so they see the same files and key on the same identities.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Digest } from '@build-image/cache';
import type { StepSource } from '@build-image/parser';
import { hashSelection, loadContext, selectSources, type BuildContext, type StatCache } from '../context/index.js';
import { copyIntoRoot } from '../fileop/copy.js';
import { resolveInRoot } from '../rootfs/resolve.js';
import type { StepContext } from './solver.js';

/** A readable tree for the duration of a step. */
export interface SourceRoot {
  /** Host directory that is `/` of the source. */
  dir: string;
  /** The walked view (with .dockerignore applied for the main context) for source selection. */
  context: () => Promise<BuildContext>;
  /** Files from the build context are owned 0:0 in the image; from stages and images they keep their owners. */
  preserveOwner: boolean;
}

/**
 * The file trees steps read from, with one identity each for cache keys (see docs/dev/cache-keys.md).
 *
 * @example
 * ```ts
 * const roots = new SourceRoots(contextDir, dockerfilePath, new Map(), statCache)
 * await roots.identity(ctx, { kind: 'context' }, '/src') // 'context:sha256:…'
 * ```
 */
export class SourceRoots {
  private mainContext: Promise<BuildContext> | undefined;
  private readonly namedLocal = new Map<string, Promise<BuildContext>>();

  constructor(
    private readonly contextDir: string,
    private readonly dockerfilePath: string | undefined,
    private readonly namedLocalDirs: ReadonlyMap<string, string>,
    readonly statCache: StatCache | undefined,
  ) {}

  /** The main build context, walked once with its .dockerignore. */
  main(): Promise<BuildContext> {
    this.mainContext ??= loadContext(this.contextDir, this.dockerfilePath ? { dockerfilePath: this.dockerfilePath } : {});
    return this.mainContext;
  }

  private local(name: string): Promise<BuildContext> {
    let p = this.namedLocal.get(name);
    if (!p) {
      p = loadContext(path.resolve(this.namedLocalDirs.get(name)!), { patterns: [] });
      this.namedLocal.set(name, p);
    }
    return p;
  }

  /** A named build context that is a directory on disk (`--build-context NAME=DIR`). */
  isLocal(source: StepSource): boolean {
    return source.kind === 'image' && this.namedLocalDirs.has(source.ref);
  }

  /**
   * Opens a source tree. Stage and image trees are snapshots that `cleanup` releases; the main
   * context is the context directory itself (reads go through the filtered walk, never around it).
   */
  async open(ctx: StepContext, source: StepSource, cleanup: Array<() => Promise<void>>): Promise<SourceRoot> {
    switch (source.kind) {
      case 'context':
        return { dir: this.contextDir, context: () => this.main(), preserveOwner: false };
      case 'scratch': {
        const dir = await mkdtemp(path.join(os.tmpdir(), 'build-image-scratch-'));
        cleanup.push(() => rm(dir, { recursive: true, force: true }));
        return { dir, context: () => loadContext(dir, { patterns: [] }), preserveOwner: true };
      }
      case 'image': {
        if (this.namedLocalDirs.has(source.ref)) {
          const dir = path.resolve(this.namedLocalDirs.get(source.ref)!);
          return { dir, context: () => this.local(source.ref), preserveOwner: false };
        }
        const img = await ctx.solver.options.images.resolve(source.ref, source.normalizedRef, ctx.stage.platform);
        return this.snapshotRoot(ctx, img.layers, cleanup);
      }
      case 'stage': {
        const state = await ctx.solver.sourceStage(source.index);
        return this.snapshotRoot(ctx, state.layers, cleanup);
      }
    }
  }

  private async snapshotRoot(ctx: StepContext, layers: Parameters<StepContext['solver']['prepare']>[0], cleanup: Array<() => Promise<void>>): Promise<SourceRoot> {
    const snap = await ctx.solver.prepare(layers);
    cleanup.push(() => snap.release());
    let walked: Promise<BuildContext> | undefined;
    return { dir: snap.mergedDir, context: () => (walked ??= loadContext(snap.mergedDir, { patterns: [] })), preserveOwner: true };
  }

  /**
   * What identifies a source's content in a cache key: for the context, the content hash of the
   * selected subtree; for a stage, its final cache key; for an image, its manifest digest.
   */
  async identity(ctx: StepContext, source: StepSource, subpath: string): Promise<string> {
    switch (source.kind) {
      case 'scratch':
        return 'scratch';
      case 'stage':
        return `stage:${(await ctx.solver.sourceStage(source.index)).key}:${subpath}`;
      case 'image':
        if (!this.namedLocalDirs.has(source.ref)) {
          const img = await ctx.solver.options.images.resolve(source.ref, source.normalizedRef, ctx.stage.platform);
          return `image:${img.manifestDigest}:${subpath}`;
        }
        return `local:${source.ref}:${await this.contentDigest(await this.local(source.ref), subpath)}`;
      case 'context':
        return `context:${await this.contentDigest(await this.main(), subpath)}`;
    }
  }

  private async contentDigest(context: BuildContext, subpath: string): Promise<Digest> {
    const selection = selectSources(context, { sources: [subpath || '/'], followSymlinks: true });
    // As mounted: context files are materialized as 0:0, so the host owner must not enter the key
    // (a checkout by another uid on another machine would otherwise miss an imported cache).
    const digest = (await hashSelection(selection, { preserveOwner: false, ...(this.statCache ? { statCache: this.statCache } : {}) })).digest;
    await this.statCache?.save();
    return digest;
  }

  /**
   * A host directory holding `subpath` of the source for a bind mount. For the build context this
   * is a copy of the non-ignored files only, so a `.dockerignore`d secret can never be mounted.
   */
  async materialize(ctx: StepContext, source: StepSource, subpath: string, cleanup: Array<() => Promise<void>>): Promise<string> {
    const root = await this.open(ctx, source, cleanup);
    if (source.kind !== 'context') {
      const p = await resolveInRoot(root.dir, subpath || '/');
      return p;
    }
    const context = await root.context();
    const selection = selectSources(context, { sources: [subpath || '/'], followSymlinks: true, location: ctx.step.location });
    const out = await mkdtemp(path.join(os.tmpdir(), 'build-image-bind-'));
    cleanup.push(() => rm(out, { recursive: true, force: true }));
    // A single file is mounted as the file itself (BuildKit binds the path the source names).
    const only = selection.sources[0]?.matches[0];
    if (selection.sources.length === 1 && selection.sources[0]!.matches.length === 1 && only && only.entries.length === 1 && only.entries[0]!.entry.type === 'file') {
      await copyIntoRoot({ srcRoot: root.dir, src: '/' + only.resolved, destRoot: out, dest: '/file', copyDirContents: true, followSymlinks: true, preserveOwner: false });
      return path.join(out, 'file');
    }
    for (const src of selection.sources) {
      for (const match of src.matches) {
        const keep = new Set(match.entries.map((e) => e.entry.path));
        await copyIntoRoot({
          srcRoot: root.dir,
          src: '/' + match.resolved,
          destRoot: out,
          dest: '/',
          copyDirContents: true,
          followSymlinks: true,
          preserveOwner: false,
          filter: ({ rel }) => ({ include: keep.has(rel), descend: true }),
        });
      }
    }
    return out;
  }
}
