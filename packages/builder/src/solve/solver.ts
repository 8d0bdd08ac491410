/**
 * The solver: walks the build graph, runs independent stages concurrently (bounded by p-limit),
 * and for every step that makes a layer computes its cache key first. A hit reuses the stored
 * layer and runs nothing; a miss runs the step on a fresh snapshot, writes the snapshot's change
 * as a layer and records the key with its pre-image, so the next miss can say why it missed.
 *
 * Metadata instructions (ENV, LABEL, CMD, ...) only change the image config; they never run.
 */
import pLimit from 'p-limit';
import {
  computeCacheKey,
  explainMiss,
  formatMissReasons,
  type CacheIndex,
  type CacheKey,
  type ContentStore,
  type KeyPart,
  type KeyPreimage,
  type LayerDescriptor,
} from '@build-image/cache';
import { BuildError } from '@build-image/errors';
import type { BuildGraph, GraphStage, Step } from '@build-image/parser';
import type { ImageConfig } from '../image/index.js';
import { applyLayer } from '../layer/index.js';
import { writeLayerFromDirectory } from '../layer/index.js';
import type { LowerLayer, MutableSnapshot, Snapshotter } from '../snapshot/index.js';
import type { ProgressListener, StepRef } from '../progress/events.js';
import {
  addHistory,
  applyArg,
  applyCmd,
  applyEntrypoint,
  applyEnv,
  applyExpose,
  applyHealthcheck,
  applyLabel,
  applyMaintainer,
  applyOnbuild,
  applyShell,
  applyStopSignal,
  applyUser,
  applyVolume,
  emptyImageConfig,
  normalizeWorkdir,
  stageStartConfig,
  withShell,
} from './image-config.js';
import type { ImageSources } from './image-source.js';
import { StepFailedError } from './errors.js';
import { goTime } from './go-format.js';

/** What a stage has produced so far. */
export interface StageState {
  config: ImageConfig;
  /** Layers in order; `config.rootfs.diff_ids` mirrors their diffIds. */
  layers: LayerDescriptor[];
  /** Key of the last layer (or of the base): the parent of the next layer step. */
  key: CacheKey;
  /** CMD was set in this stage (ENTRYPOINT then keeps it). */
  cmdSet: boolean;
  /** History entries that came with the base image (SOURCE_DATE_EPOCH leaves their times alone). */
  baseHistoryLength: number;
  /** Plan mode: a step's inputs are only known after something runs, so later keys are too. */
  keyUnknown?: boolean;
}

/** Plan mode: what a layer step would do. */
export type Prediction = 'hit' | 'miss' | 'unknown';

export interface PlannedStep {
  /** As in progress events (`#N`, `[stage i/n]`). */
  step: StepRef;
  kind: Step['kind'];
  prediction: Prediction;
  /** The cache key, when it can be computed before running. */
  key?: CacheKey;
  /** Why it misses (or why it cannot be known); empty for hits. */
  reasons: string[];
  /** The cached layer a hit reuses. */
  layer?: { digest: string; size: number };
}

/**
 * Plan mode: an input that exists only once the build has run something (a rebuilt stage's files).
 *
 * @example
 * ```ts
 * try { await solver.sourceStage(0) } catch (e) { if (e instanceof InputsUnknownError) prediction = 'unknown' }
 * ```
 */
export class InputsUnknownError extends Error {}

/** Plan mode: the layer a step that would run will make; its content is unknown. */
const PENDING_LAYER: LayerDescriptor = {
  mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
  digest: `sha256:${'0'.repeat(64)}` as LayerDescriptor['digest'],
  size: 0,
};

/**
 * A layer whose change dir is final but whose blob is still being written (tar, gzip, digests,
 * fsync). The stage's next steps already run on the change dir; the blob, the descriptor and the
 * cache entry follow in the background, and the stage settles them all before it is done.
 */
interface PendingLayer {
  /** The descriptor in `state.layers`, filled in place when the blob is stored. */
  placeholder: LayerDescriptor;
  /** The finished snapshot's change dir, in overlay lower-dir format. */
  dir: string;
  /** The stored layer; rejects with the step's error. */
  stored: Promise<LayerDescriptor>;
  /** Keeps the change dir as the layer's dir (when stored) and deletes the rest of the snapshot. */
  finish(): Promise<void>;
}

/** A step that makes a layer, as the step modules implement it. */
export interface LayerOp {
  /** Key parts besides parent and platform. */
  parts: KeyPart[];
  /** Builds the change on `snapshot` (its merged dir is the stage's root filesystem). */
  run(snapshot: MutableSnapshot): Promise<{ exclude?: ReadonlySet<string> } | void>;
  /** `--link`: the layer is built on an empty snapshot, independent of the layers below. */
  independent?: boolean;
  /** History `created_by` and whether BuildKit appends " # buildkit". */
  createdBy: string;
  buildkitSuffix: boolean;
  /** Releases what computing the key needed (snapshots of source stages, downloads). */
  dispose?(): Promise<void>;
}

export interface StepContext {
  solver: Solver;
  stage: GraphStage;
  step: Step;
  state: StageState;
  ref: StepRef;
}

/** Turns a layer-making step into a {@link LayerOp}; implemented in run-step.ts / copy-step.ts. */
export type LayerOpFactory = (ctx: StepContext) => Promise<LayerOp>;

export interface SolverOptions {
  store: ContentStore;
  index: CacheIndex;
  snapshotter: Snapshotter;
  images: ImageSources;
  graph: BuildGraph;
  /** Dockerfile text, attached to errors for code frames. */
  dockerfileText: string;
  emit: ProgressListener;
  /** Identifies the project (context dir + Dockerfile) in step identities for miss explanations. */
  projectId: string;
  /** `--build-arg` values (ARG history shows them as BuildKit does). */
  buildArgs?: Record<string, string>;
  /** Step kinds that make layers, wired by build.ts (keeps this module free of executor/context imports). */
  layerOps: Partial<Record<Step['kind'], LayerOpFactory>>;
  noCache?: boolean;
  /**
   * Predict instead of build: every layer step's key is computed and looked up without changing
   * the cache, nothing runs, and the outcome is in {@link Solver.planned}.
   */
  plan?: boolean;
  /** SOURCE_DATE_EPOCH in seconds: clamps layer times, part of every layer key. */
  sourceDateEpoch?: number;
  /** Stages built at once. Default 2 (the machines this targets have 2 cores). */
  concurrency?: number;
  signal?: AbortSignal;
  now?: () => number;
}

const KEY_CONFIG = 'build-image/solver/v1';

/**
 * Solves the build graph: stages once each (dependencies first, at most `concurrency` at a time), metadata steps on the config, layer steps through the cache. See docs/dev/lifecycle.md.
 *
 * @example
 * ```ts
 * const solver = new Solver({ store, index, snapshotter, images, graph, dockerfileText, emit, projectId, layerOps })
 * const state = await solver.solveTarget() // config and layers of the target stage
 * ```
 */
export class Solver {
  readonly options: SolverOptions;
  private readonly stages = new Map<number, Promise<StageState>>();
  private readonly limit: ReturnType<typeof pLimit>;
  private readonly refs = new Map<Step, StepRef>();
  /** Fired when a stage fails, so stages running beside it stop too (as BuildKit cancels them). */
  private readonly failed = new AbortController();
  /** The caller's signal combined with the solver's own failure signal: what steps must honour. */
  readonly signal: AbortSignal;
  readonly counts = { run: 0, cached: 0 };
  /** Every layer step's key, for exporting the cache (`--cache-to`, mode=min keeps the target's). */
  readonly entries: Array<{ key: CacheKey; stepId: string; stage: number }> = [];
  /** Plan mode: the predictions, in step order. */
  readonly planned: PlannedStep[] = [];
  /** Index writes of finished steps, settled before the build is reported done. */
  private readonly puts: Array<Promise<unknown>> = [];
  /** Layers still being written, by their placeholder descriptor (see {@link PendingLayer}). */
  private readonly pendingLayers = new Map<LayerDescriptor, PendingLayer>();
  /** The pending layers of each stage being solved, in step order. */
  private readonly pendingByStage = new WeakMap<StageState, PendingLayer[]>();

  constructor(options: SolverOptions) {
    this.options = options;
    this.limit = pLimit(options.concurrency ?? 2);
    this.signal = options.signal ? AbortSignal.any([options.signal, this.failed.signal]) : this.failed.signal;
    let id = 0;
    for (const stage of options.graph.stages) {
      const stageLabel = stage.name ?? `stage-${stage.index}`;
      for (const step of stage.steps) {
        id++;
        this.refs.set(step, { id, stage: stageLabel, index: step.index + 1, total: stage.steps.length, name: stepName(step), line: step.location.line });
      }
    }
  }

  get store(): ContentStore {
    return this.options.store;
  }

  /** The final state of the target stage, once every step's cache entry is recorded. */
  async solveTarget(): Promise<StageState> {
    try {
      const state = await this.stage(this.options.graph.target);
      await Promise.all(this.puts);
      return state;
    } finally {
      // A failed build still records the steps that finished (BuildKit caches them too).
      await Promise.allSettled(this.puts);
    }
  }

  /**
   * A stage whose files or key another step reads (COPY --from, RUN --mount from=). In plan mode
   * it may not be knowable yet: then the reading step's inputs are unknown too.
   */
  async sourceStage(index: number): Promise<StageState> {
    const state = await this.stage(index);
    if (state.keyUnknown) throw new InputsUnknownError(`it reads stage ${this.stageLabel(index)}, whose result is only known after it runs`);
    return state;
  }

  private stageLabel(index: number): string {
    return this.options.graph.stages.find((s) => s.index === index)?.name ?? `stage-${index}`;
  }

  /** A stage's final state; each stage is solved once, its dependencies first and in parallel. */
  stage(index: number): Promise<StageState> {
    let p = this.stages.get(index);
    if (!p) {
      const stage = this.options.graph.stages.find((s) => s.index === index);
      if (!stage) return Promise.reject(new BuildError('E_UNKNOWN_STAGE', `stage ${index} is not part of this build`, { data: { index } }));
      p = (async () => {
        // Dependencies start before this stage takes a concurrency slot, so a chain never deadlocks.
        await Promise.all(stage.dependsOn.map((d) => this.stage(d)));
        return this.limit(() => this.runStage(stage));
      })();
      p.catch((e: unknown) => {
        if (!this.failed.signal.aborted) this.failed.abort(e);
      });
      this.stages.set(index, p);
    }
    return p;
  }

  private async runStage(stage: GraphStage): Promise<StageState> {
    const state = await this.baseState(stage);
    const pending: PendingLayer[] = [];
    this.pendingByStage.set(state, pending);
    try {
      for (const step of stage.steps) {
        this.signal.throwIfAborted();
        await this.runStep(stage, step, state);
      }
      // The stage is done when its last blob is stored; later readers (COPY --from, the exporter)
      // see only complete descriptors.
      for (const p of pending) await p.stored;
      if (pending.length > 0) state.config.rootfs = { type: 'layers', diff_ids: state.layers.map((l) => l.diffId!) };
      return state;
    } finally {
      // On failure too: each waits for its write, then commits or deletes its snapshot. All at
      // once: each is a rename and a removal, and one after the other they added ~2 ms per RUN
      // to the end of the stage.
      const finished = await Promise.allSettled(pending.map((p) => p.finish()));
      for (const p of pending) this.pendingLayers.delete(p.placeholder);
      this.pendingByStage.delete(state);
      const failed = finished.find((f): f is PromiseRejectedResult => f.status === 'rejected');
      if (failed) throw failed.reason;
    }
  }

  private async baseState(stage: GraphStage): Promise<StageState> {
    const platform = stage.platform.string;
    switch (stage.base.kind) {
      case 'scratch': {
        const config = emptyImageConfig(stage.platform);
        config.history = [];
        return { config, layers: [], key: computeCacheKey([{ type: 'op', value: 'scratch' }, { type: 'platform', value: platform }]).key, cmdSet: false, baseHistoryLength: 0 };
      }
      case 'stage': {
        const base = await this.stage(stage.base.index);
        return { config: stageStartConfig(base.config), layers: [...base.layers], key: base.key, cmdSet: false, baseHistoryLength: base.baseHistoryLength, ...(base.keyUnknown ? { keyUnknown: true } : {}) };
      }
      case 'image': {
        const img = await this.options.images.resolve(stage.base.ref, stage.base.normalizedRef, stage.platform);
        const config = stageStartConfig(img.config);
        // BuildKit builds for the stage's platform even if the image's config says otherwise.
        return {
          config,
          layers: [...img.layers], // a copy: the resolved image is shared by every stage built on it
          key: computeCacheKey([{ type: 'base', value: img.manifestDigest }, { type: 'platform', value: platform }]).key,
          cmdSet: false,
          baseHistoryLength: config.history?.length ?? 0,
        };
      }
    }
  }

  private async runStep(stage: GraphStage, step: Step, state: StageState): Promise<void> {
    const ins = step.instruction;
    const img = state.config;
    const ref = this.refs.get(step)!;
    switch (ins.kind) {
      case 'ENV':
        applyEnv(img, ins.env.map((e) => [e.key, e.value] as const));
        return;
      case 'LABEL':
        applyLabel(img, ins.labels.map((e) => [e.key, e.value] as const));
        return;
      case 'MAINTAINER':
        applyMaintainer(img, ins.maintainer);
        return;
      case 'EXPOSE':
        applyExpose(img, step.exposedPorts ?? ins.ports);
        return;
      case 'USER':
        applyUser(img, ins.user);
        return;
      case 'VOLUME':
        applyVolume(img, ins.volumes);
        return;
      case 'STOPSIGNAL':
        applyStopSignal(img, ins.signal);
        return;
      case 'SHELL':
        applyShell(img, ins.shell);
        return;
      case 'ONBUILD':
        applyOnbuild(img, ins.expression);
        return;
      case 'ARG': {
        // BuildKit's dispatchArg: a --build-arg wins, then the value the graph resolved (the expanded
        // default, or the global ARG's); with neither the history says just `ARG NAME`.
        applyArg(img, ins.args.map((a) => ({ name: a.key, value: this.options.buildArgs?.[a.key] ?? a.value })));
        return;
      }
      case 'CMD':
        applyCmd(img, ins.command.form === 'exec' ? ins.command.args : withShell(img, ins.command.script));
        state.cmdSet = true;
        return;
      case 'ENTRYPOINT':
        applyEntrypoint(img, ins.command.form === 'exec' ? ins.command.args : withShell(img, ins.command.script), state.cmdSet);
        return;
      case 'HEALTHCHECK':
        applyHealthcheck(
          img,
          ins.health.kind === 'none'
            ? { Test: ['NONE'] }
            : { Test: ins.health.test, Interval: ins.health.interval, Timeout: ins.health.timeout, StartPeriod: ins.health.startPeriod, StartInterval: ins.health.startInterval, Retries: ins.health.retries },
        );
        return;
      case 'WORKDIR': {
        const wd = normalizeWorkdir(img.config?.WorkingDir, ins.path);
        (img.config ??= {}).WorkingDir = wd;
        if (wd === '/') {
          addHistory(img, `WORKDIR ${wd}`, { layer: false });
          return;
        }
        break;
      }
      case 'FROM':
        return;
      default:
        break;
    }
    const factory = this.options.layerOps[ins.kind];
    if (!factory) throw new BuildError('E_UNSUPPORTED', `${ins.kind} is not supported by this build`, { location: step.location });
    await this.layerStep({ solver: this, stage, step, state, ref }, factory);
  }

  private async layerStep(ctx: StepContext, factory: LayerOpFactory): Promise<void> {
    if (this.options.plan) return this.planStep(ctx, factory);
    const { ref } = ctx;
    const emit = this.options.emit;
    const started = this.now();
    emit({ v: 1, type: 'step-start', time: started, step: ref });
    let op: LayerOp;
    try {
      op = await factory(ctx);
    } catch (e) {
      throw this.stepError(ctx, e);
    }
    try {
      await this.cachedOrRun(ctx, op, started);
    } finally {
      await op.dispose?.();
    }
  }

  /** The step's key: its parts framed with the parent key, the platform and the solver's settings. */
  private keyOf(ctx: StepContext, op: LayerOp): { key: CacheKey; preimage: KeyPreimage; stepId: string } {
    const parts: KeyPart[] = [
      { type: 'parent', value: op.independent ? null : ctx.state.key },
      { type: 'platform', value: ctx.stage.platform.string },
      { type: 'extra', name: 'solver', value: KEY_CONFIG },
      ...(this.options.sourceDateEpoch !== undefined ? [{ type: 'extra', name: 'source-date-epoch', value: String(this.options.sourceDateEpoch) } as KeyPart] : []),
      ...op.parts,
    ];
    return { ...computeCacheKey(parts), stepId: stepIdentity(this.options.projectId, ctx.stage, ctx.step) };
  }

  /** The key the next step builds on: a --link layer is keyed independently, then chained. */
  private nextKey(state: StageState, op: LayerOp, key: CacheKey): CacheKey {
    return op.independent ? computeCacheKey([{ type: 'parent', value: state.key }, { type: 'input', name: 'link', value: key }]).key : key;
  }

  /** Plan mode: the key is computed and looked up (with `peek`, which changes nothing); nothing runs. */
  private async planStep(ctx: StepContext, factory: LayerOpFactory): Promise<void> {
    const { step, state, ref } = ctx;
    const record = (p: Omit<PlannedStep, 'step' | 'kind'>) => this.planned.push({ step: ref, kind: step.kind, ...p });
    if (state.keyUnknown) {
      record({ prediction: 'unknown', reasons: ['an earlier step of this stage has inputs only known after running'] });
      state.layers.push(PENDING_LAYER);
      return;
    }
    let op: LayerOp;
    try {
      op = await factory(ctx);
    } catch (e) {
      if (!(e instanceof InputsUnknownError)) throw e;
      record({ prediction: 'unknown', reasons: [`inputs unknown until the build runs: ${e.message}`] });
      state.keyUnknown = true;
      state.layers.push(PENDING_LAYER);
      return;
    }
    try {
      const { key, preimage, stepId } = this.keyOf(ctx, op);
      const hit = this.options.noCache ? undefined : await this.options.index.peek(key);
      // As CacheIndex.get: an entry whose blob is gone is a miss.
      const layer = hit?.layers?.[0] && (await this.store.has(hit.layers[0].digest)) ? hit.layers[0] : undefined;
      if (layer) {
        record({ prediction: 'hit', key, reasons: [], layer: { digest: layer.digest, size: layer.size } });
        state.layers.push(layer);
      } else {
        record({ prediction: 'miss', key, reasons: await this.explain(stepId, preimage) });
        state.layers.push(PENDING_LAYER);
      }
      state.key = this.nextKey(state, op, key);
    } finally {
      await op.dispose?.();
    }
  }

  private async cachedOrRun(ctx: StepContext, op: LayerOp, started: number): Promise<void> {
    const { state, ref } = ctx;
    const emit = this.options.emit;
    const { key, preimage, stepId } = this.keyOf(ctx, op);
    const hit = this.options.noCache ? undefined : await this.options.index.get(key, { stepId });
    let layer: LayerDescriptor;
    // When the layer was first made: history times come from it, so a cached rebuild (here or on
    // another machine through an imported cache) reproduces the same config and image digest.
    let createdAt: string;
    if (hit?.layers?.[0]) {
      layer = hit.layers[0];
      createdAt = typeof hit.metadata?.createdAt === 'string' ? hit.metadata.createdAt : hit.createdAt;
      this.counts.cached++;
      emit({ v: 1, type: 'step-cached', time: this.now(), step: ref, key });
    } else {
      // The explanation reads the step's previous pre-image while the step runs (it must be read
      // before the put below replaces it); neither it nor the put is waited for by the next step.
      const missing = this.explain(stepId, preimage);
      missing.catch(() => undefined);
      let stored: Promise<LayerDescriptor>;
      try {
        ({ layer, stored } = await this.execute(ctx, op));
      } catch (e) {
        throw this.stepError(ctx, e);
      }
      createdAt = goTime(this.now());
      const created = createdAt;
      // The cache entry and step-done wait for the blob (and the explanation); the next step does not.
      const put = Promise.all([stored, missing]).then(([l, miss]) => {
        emit({ v: 1, type: 'step-done', time: this.now(), step: ref, durationMs: this.now() - started, key, miss, layer: { digest: l.digest, size: l.size } });
        return this.options.index.put(key, { layers: [l], metadata: { createdAt: created } }, preimage, { stepId });
      });
      put.catch(() => undefined);
      this.puts.push(put);
      this.counts.run++;
    }
    state.layers.push(layer);
    state.config.rootfs = { type: 'layers', diff_ids: state.layers.map((l) => l.diffId!) };
    state.key = this.nextKey(state, op, key);
    this.entries.push({ key, stepId, stage: ctx.stage.index });
    addHistory(state.config, op.createdBy, { layer: true, buildkitSuffix: op.buildkitSuffix, created: createdAt });
  }

  private async explain(stepId: string, preimage: KeyPreimage): Promise<string[]> {
    if (this.options.noCache) return ['--no-cache'];
    const nearest = await this.options.index.findNearest(stepId);
    if (!nearest) return ['not built before'];
    return formatMissReasons(explainMiss(preimage, nearest.preimage));
  }

  /**
   * Runs a layer op on a snapshot of the stage (or an empty one for --link). On overlay the layer
   * is stored in the background (see {@link PendingLayer}): `layer` is a placeholder until
   * `stored` resolves. Elsewhere it is stored before this returns.
   */
  private async execute(ctx: StepContext, op: LayerOp): Promise<{ layer: LayerDescriptor; stored: Promise<LayerDescriptor> }> {
    const snapshot = await this.prepare(op.independent ? [] : ctx.state.layers);
    let handedOver = false;
    try {
      const result = (await op.run(snapshot)) ?? {};
      const diff = await snapshot.diff();
      const write = async (): Promise<LayerDescriptor> => {
        const written = await writeLayerFromDirectory(diff.upperDir, this.store, {
          overlay: diff.format,
          ...(result.exclude ? { exclude: result.exclude } : {}),
          ...(this.options.sourceDateEpoch !== undefined ? { sourceDateEpoch: this.options.sourceDateEpoch } : {}),
        });
        return { mediaType: written.mediaType, digest: written.digest, size: written.size, diffId: written.diffId };
      };
      const pendingList = this.pendingByStage.get(ctx.state);
      // Only an overlay can stack the change dir as it is, and only when the layer is all of it.
      if (this.options.snapshotter.kind !== 'overlay' || result.exclude || !pendingList) {
        const layer = await write();
        await snapshot.commit(layer.diffId!);
        return { layer, stored: Promise.resolve(layer) };
      }
      const placeholder = { mediaType: '', digest: '', size: 0 } as unknown as LayerDescriptor;
      const stored = write().then(
        (layer) => Object.assign(placeholder, layer),
        (e: unknown) => {
          throw this.stepError(ctx, e);
        },
      );
      stored.catch(() => undefined);
      const pending: PendingLayer = {
        placeholder,
        dir: diff.upperDir,
        stored,
        finish: async () => {
          try {
            const layer = await stored.catch(() => undefined);
            if (layer) await snapshot.commit(layer.diffId!);
          } finally {
            await snapshot.release();
          }
        },
      };
      pendingList.push(pending);
      this.pendingLayers.set(placeholder, pending);
      handedOver = true;
      return { layer: placeholder, stored };
    } finally {
      if (!handedOver) await snapshot.release();
    }
  }

  /** A writable snapshot over `layers` (extracting each layer from the store once). */
  prepare(layers: readonly LayerDescriptor[]): Promise<MutableSnapshot> {
    if (layers.includes(PENDING_LAYER)) return Promise.reject(new InputsUnknownError('its source is a stage that will be rebuilt first'));
    const lowers: LowerLayer[] = layers.map((l) => ({
      diffId: l.diffId!,
      ...(this.pendingLayers.has(l) ? { dir: this.pendingLayers.get(l)!.dir } : {}),
      apply: async (dir, mode) => {
        await applyLayer(dir, this.store.get(l.digest), mode.kind === 'overlay-diff' ? { whiteouts: 'overlay', overlayXattrPrefix: mode.xattrPrefix } : {});
      },
    }));
    return this.options.snapshotter.prepare(lowers);
  }

  private stepError(ctx: StepContext, e: unknown): BuildError {
    const message = e instanceof Error ? e.message : String(e);
    this.options.emit({ v: 1, type: 'step-error', time: this.now(), step: ctx.ref, message });
    if (e instanceof StepFailedError) return e;
    if (BuildError.is(e) && e.location) return e;
    const code = BuildError.is(e) ? e.code : 'E_STEP_FAILED';
    return new StepFailedError('E_STEP_FAILED', `${ctx.ref.name}: ${message}`, ctx.step.location, this.options.dockerfileText, { code }, e);
  }

  now(): number {
    return (this.options.now ?? Date.now)();
  }
}

/** How BuildKit names a step's vertex: the instruction keyword uppercased plus its text. */
function stepName(step: Step): string {
  const text = step.text.trim();
  const sp = text.search(/\s/);
  return sp < 0 ? text.toUpperCase() : text.slice(0, sp).toUpperCase() + text.slice(sp);
}

/**
 * A step's identity across builds, for "why did this miss": the project (context + Dockerfile),
 * the stage (by name, else index), the position in the stage and the instruction kind. Editing
 * the instruction keeps the identity, so the explanation can say what changed.
 *
 * @example
 * ```ts
 * stepIdentity('0123456789abcdef', stage, step) // '0123456789abcdef|build/2/RUN'
 * ```
 */
export function stepIdentity(project: string, stage: GraphStage, step: Step): string {
  return `${project}|${stage.name ?? stage.index}/${step.index}/${step.kind}`;
}
