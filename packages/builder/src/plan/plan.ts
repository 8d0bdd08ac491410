/**
 * `build-image plan`: which layer steps a build would take from the cache and which it would run,
 * and why — without running anything. It walks the graph as the solver does, asks the same step
 * modules (run-step, copy-step, workdir-step) for their key parts, frames them exactly as
 * `Solver.cachedOrRun` does, and looks the key up with `CacheIndex.peek` (which, unlike `get`,
 * changes nothing). A miss is explained from the step's last recorded pre-image.
 *
 * What cannot be known before running: a COPY --from (or a RUN --mount from=) a stage that will
 * itself be rebuilt, because its content is the result of running. Such steps, and the steps
 * after them in their stage, are `unknown`.
 *
 * Base images are resolved (and, like a build, pulled into the store) because their manifest
 * digest starts every key built on them; `--cache-from` caches are imported first, as the build
 * does, so their entries count as hits.
 *
 * Kept in step with solve/solver.ts: `KEY_CONFIG`, the key framing in `cachedOrRun`, `baseState`
 * and the metadata instructions of `runStep`. See the integrator note in the module README.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import {
  CacheIndex,
  ContentStore,
  computeCacheKey,
  explainMiss,
  formatMissReasons,
  resolveCacheDir,
  type CacheKey,
  type KeyPart,
  type LayerDescriptor,
} from '@build-image/cache';
import { BuildError } from '@build-image/errors';
import { createBuildGraph, listBaseImages, parseDockerfile, type BuildGraph, type GraphStage, type ImageConfigInfo, type Step } from '@build-image/parser';
import { StatCache } from '../context/index.js';
import { RuncExecutor } from '../executor/index.js';
import { hostPlatformString } from '../platform.js';
import type { StepRef } from '../progress/events.js';
import { DockerConfigCredentialStore, RegistryClient } from '../registry/index.js';
import { createSnapshotter, type MutableSnapshot } from '../snapshot/index.js';
import type { BuildOptions } from '../solve/build.js';
import { copyStep } from '../solve/copy-step.js';
import {
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
} from '../solve/image-config.js';
import { ImageSources } from '../solve/image-source.js';
import { runStep } from '../solve/run-step.js';
import { Solver, stepIdentity, type LayerOpFactory, type StageState } from '../solve/solver.js';
import { SourceRoots } from '../solve/source-roots.js';
import { importCache } from '../remote-cache/index.js';
import { workdirStep } from '../solve/workdir-step.js';

/** Must equal solver.ts's KEY_CONFIG: it is part of every layer key. */
const KEY_CONFIG = 'build-image/solver/v1';

/** The prediction for one layer step. */
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

export interface BuildPlan {
  dockerfile: string;
  /** Target stage (name or index). */
  target: string;
  platform: string;
  /** Every layer step of the stages the target needs, in build order. */
  steps: PlannedStep[];
  summary: { hit: number; miss: number; unknown: number };
  /** Problems that did not stop the plan (a `--cache-from` that could not be read). */
  warnings: string[];
}

/** A stage's result cannot be known without running it. */
class UnknownUntilRun extends Error {}

const PENDING: LayerDescriptor = { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: 'sha256:pending' as LayerDescriptor['digest'], size: 0, diffId: 'sha256:pending' as LayerDescriptor['digest'] };

interface PlannedStage {
  state: StageState;
  /** Name of the stage, for reasons. */
  label: string;
  /** The final key is not computable (a step's inputs are the result of running something). */
  keyUnknown: boolean;
  /** Some layers will only exist after running (their content is unknown). */
  layersPending: boolean;
}

/**
 * The solver, seen by the step modules: stage results come from the plan, and a snapshot of a
 * stage whose layers are not built yet is refused (its content is unknown until the build runs).
 */
class PlanningSolver extends Solver {
  planner!: Planner;
  override stage(index: number): Promise<StageState> {
    return this.planner.stage(index).then((p) => {
      if (p.keyUnknown) throw new UnknownUntilRun(`it depends on stage ${p.label}, whose result is only known after it runs`);
      return p.state;
    });
  }
  override prepare(layers: readonly LayerDescriptor[]): Promise<MutableSnapshot> {
    if (layers.some((l) => l === PENDING)) return Promise.reject(new UnknownUntilRun('its source is a stage that will be rebuilt first'));
    return super.prepare(layers);
  }
}

function stepName(step: Step): string {
  const text = step.text.trim();
  const sp = text.search(/\s/);
  return sp < 0 ? text.toUpperCase() : text.slice(0, sp).toUpperCase() + text.slice(sp);
}

class Planner {
  private readonly stages = new Map<number, Promise<PlannedStage>>();
  readonly steps: PlannedStep[] = [];
  readonly refs = new Map<Step, StepRef>();

  constructor(
    readonly solver: PlanningSolver,
    private readonly graph: BuildGraph,
    private readonly index: CacheIndex,
    private readonly store: ContentStore,
    private readonly images: ImageSources,
    private readonly layerOps: Partial<Record<Step['kind'], LayerOpFactory>>,
    private readonly options: { projectId: string; noCache: boolean; sourceDateEpoch?: number },
  ) {
    let id = 0;
    for (const stage of graph.stages) {
      const label = stage.name ?? `stage-${stage.index}`;
      for (const step of stage.steps) {
        id++;
        this.refs.set(step, { id, stage: label, index: step.index + 1, total: stage.steps.length, name: stepName(step), line: step.location.line });
      }
    }
  }

  stage(index: number): Promise<PlannedStage> {
    let p = this.stages.get(index);
    if (!p) {
      const stage = this.graph.stages.find((s) => s.index === index);
      if (!stage) return Promise.reject(new BuildError('E_UNKNOWN_STAGE', `stage ${index} is not part of this build`, { data: { index } }));
      // Sequential on purpose: a plan is cheap and its step order should read like the build's.
      p = (async () => {
        for (const d of stage.dependsOn) await this.stage(d);
        return this.planStage(stage);
      })();
      this.stages.set(index, p);
    }
    return p;
  }

  private async base(stage: GraphStage): Promise<PlannedStage> {
    const platform = stage.platform.string;
    const label = stage.name ?? `stage-${stage.index}`;
    switch (stage.base.kind) {
      case 'scratch': {
        const config = emptyImageConfig(stage.platform);
        config.history = [];
        return { label, keyUnknown: false, layersPending: false, state: { config, layers: [], key: computeCacheKey([{ type: 'op', value: 'scratch' }, { type: 'platform', value: platform }]).key, cmdSet: false, baseHistoryLength: 0 } };
      }
      case 'stage': {
        const b = await this.stage(stage.base.index);
        return { label, keyUnknown: b.keyUnknown, layersPending: b.layersPending, state: { config: stageStartConfig(b.state.config), layers: [...b.state.layers], key: b.state.key, cmdSet: false, baseHistoryLength: b.state.baseHistoryLength } };
      }
      case 'image': {
        const img = await this.images.resolve(stage.base.ref, stage.base.normalizedRef, stage.platform);
        const config = stageStartConfig(img.config);
        return {
          label,
          keyUnknown: false,
          layersPending: false,
          state: {
            config,
            layers: img.layers,
            key: computeCacheKey([{ type: 'base', value: img.manifestDigest }, { type: 'platform', value: platform }]).key,
            cmdSet: false,
            baseHistoryLength: config.history?.length ?? 0,
          },
        };
      }
    }
  }

  private async planStage(stage: GraphStage): Promise<PlannedStage> {
    const planned = await this.base(stage);
    for (const step of stage.steps) {
      if (!this.applyMetadata(step, planned.state)) continue;
      await this.planLayerStep(stage, step, planned);
    }
    return planned;
  }

  /** The config-only instructions, as the solver applies them. Returns true when the step makes a layer. */
  private applyMetadata(step: Step, state: StageState): boolean {
    const ins = step.instruction;
    const img = state.config;
    switch (ins.kind) {
      case 'ENV':
        applyEnv(img, ins.env.map((e) => [e.key, e.value] as const));
        return false;
      case 'LABEL':
        applyLabel(img, ins.labels.map((e) => [e.key, e.value] as const));
        return false;
      case 'MAINTAINER':
        applyMaintainer(img, ins.maintainer);
        return false;
      case 'EXPOSE':
        applyExpose(img, step.exposedPorts ?? ins.ports);
        return false;
      case 'USER':
        applyUser(img, ins.user);
        return false;
      case 'VOLUME':
        applyVolume(img, ins.volumes);
        return false;
      case 'STOPSIGNAL':
        applyStopSignal(img, ins.signal);
        return false;
      case 'SHELL':
        applyShell(img, ins.shell);
        return false;
      case 'ONBUILD':
        applyOnbuild(img, ins.expression);
        return false;
      case 'ARG': {
        const visible = new Map(step.args);
        applyArg(img, ins.args.map((a) => ({ name: a.key, value: a.value !== undefined ? (visible.get(a.key) ?? a.value) : visible.get(a.key) })));
        return false;
      }
      case 'CMD':
        applyCmd(img, ins.command.form === 'exec' ? ins.command.args : withShell(img, ins.command.script));
        state.cmdSet = true;
        return false;
      case 'ENTRYPOINT':
        applyEntrypoint(img, ins.command.form === 'exec' ? ins.command.args : withShell(img, ins.command.script), state.cmdSet);
        return false;
      case 'HEALTHCHECK':
        applyHealthcheck(
          img,
          ins.health.kind === 'none'
            ? { Test: ['NONE'] }
            : { Test: ins.health.test, Interval: ins.health.interval, Timeout: ins.health.timeout, StartPeriod: ins.health.startPeriod, StartInterval: ins.health.startInterval, Retries: ins.health.retries },
        );
        return false;
      case 'WORKDIR': {
        const wd = normalizeWorkdir(img.config?.WorkingDir, ins.path);
        (img.config ??= {}).WorkingDir = wd;
        return wd !== '/';
      }
      case 'FROM':
        return false;
      default:
        return true;
    }
  }

  private async planLayerStep(stage: GraphStage, step: Step, planned: PlannedStage): Promise<void> {
    const { state } = planned;
    const ref = this.refs.get(step)!;
    const record = (p: Omit<PlannedStep, 'step' | 'kind'>) => this.steps.push({ step: ref, kind: step.kind, ...p });
    if (planned.keyUnknown) {
      record({ prediction: 'unknown', reasons: ['an earlier step of this stage has inputs only known after running'] });
      state.layers.push(PENDING);
      return;
    }
    const factory = this.layerOps[step.instruction.kind];
    if (!factory) throw new BuildError('E_UNSUPPORTED', `${step.instruction.kind} is not supported by this build`, { location: step.location });
    let op;
    try {
      op = await factory({ solver: this.solver, stage, step, state, ref });
    } catch (e) {
      if (!(e instanceof UnknownUntilRun)) throw e;
      record({ prediction: 'unknown', reasons: [`inputs unknown until the build runs: ${e.message}`] });
      planned.keyUnknown = true;
      planned.layersPending = true;
      state.layers.push(PENDING);
      return;
    }
    try {
      const parts: KeyPart[] = [
        { type: 'parent', value: op.independent ? null : state.key },
        { type: 'platform', value: stage.platform.string },
        { type: 'extra', name: 'solver', value: KEY_CONFIG },
        ...(this.options.sourceDateEpoch !== undefined ? [{ type: 'extra', name: 'source-date-epoch', value: String(this.options.sourceDateEpoch) } as KeyPart] : []),
        ...op.parts,
      ];
      const { key, preimage } = computeCacheKey(parts);
      const hit = this.options.noCache ? undefined : await this.index.peek(key);
      // As CacheIndex.get: an entry whose blob is gone is a miss.
      const layer = hit?.layers?.[0] && (await this.store.has(hit.layers[0].digest)) ? hit.layers[0] : undefined;
      if (layer) {
        record({ prediction: 'hit', key, reasons: [], layer: { digest: layer.digest, size: layer.size } });
        state.layers.push(layer);
      } else {
        let reasons: string[];
        if (this.options.noCache) reasons = ['--no-cache'];
        else {
          const nearest = await this.index.findNearest(stepIdentity(this.options.projectId, stage, step));
          reasons = nearest ? formatMissReasons(explainMiss(preimage, nearest.preimage)) : ['not built before'];
        }
        record({ prediction: 'miss', key, reasons });
        planned.layersPending = true;
        state.layers.push(PENDING);
      }
      state.key = op.independent ? computeCacheKey([{ type: 'parent', value: state.key }, { type: 'input', name: 'link', value: key }]).key : key;
    } finally {
      await op.dispose?.();
    }
  }
}

/**
 * Predicts, for every layer step the target needs, whether a build with these options would
 * reuse the cache or run it, and why; runs nothing and writes no cache entry.
 *
 * @example
 * const plan = await planBuild({ context: '.', target: 'app' })
 * for (const s of plan.steps) console.log(s.step.name, s.prediction, s.reasons)
 */
export async function planBuild(options: BuildOptions): Promise<BuildPlan> {
  const contextDir = path.resolve(options.context);
  const file = options.file !== undefined ? path.resolve(options.file) : path.join(contextDir, 'Dockerfile');
  const fileLabel = options.file ?? 'Dockerfile';
  const text =
    options.dockerfile ??
    (await readFile(file, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new BuildError('E_DOCKERFILE_NOT_FOUND', `cannot read Dockerfile ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`, { cause: e, data: { file } });
    }));
  const cacheDir = path.resolve(options.cacheDir ?? resolveCacheDir());
  await mkdir(cacheDir, { recursive: true });
  const store = new ContentStore({ root: cacheDir });
  const index = new CacheIndex(store);
  const registry = new RegistryClient({
    auth: new DockerConfigCredentialStore(),
    ...(options.insecureRegistries ? { insecureRegistries: options.insecureRegistries } : {}),
    ...(options.registryMirrors ? { mirrors: options.registryMirrors } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  const named = new Map((options.buildContexts ?? []).map((c) => [c.name, c] as const));
  const images = new ImageSources(store, registry, named);

  // The same graph build() makes: base image configs shape it (ENV, ONBUILD).
  const tree = parseDockerfile(text, { file: fileLabel });
  const graphOptions = {
    file: fileLabel,
    buildArgs: options.buildArgs ?? {},
    buildPlatform: hostPlatformString(),
    ...(options.platform ? { platform: options.platform } : {}),
    ...(options.target ? { target: options.target } : {}),
  };
  const imageConfigs: Record<string, ImageConfigInfo> = {};
  const probe = createBuildGraph(tree, graphOptions);
  await Promise.all(
    listBaseImages(tree, graphOptions).map(async (b) => {
      const stage = probe.stages.find((s) => s.index === b.stage);
      if (!stage) return;
      const c = (await images.resolve(b.ref, b.normalizedRef, stage.platform)).config.config ?? {};
      imageConfigs[b.ref] = {
        ...(c.Env ? { env: c.Env } : {}),
        ...(c.OnBuild ? { onBuild: c.OnBuild } : {}),
        ...(c.Shell ? { shell: c.Shell } : {}),
        ...(c.WorkingDir ? { workingDir: c.WorkingDir } : {}),
        ...(c.User ? { user: c.User } : {}),
      };
    }),
  );
  const graph = createBuildGraph(tree, { ...graphOptions, imageConfigs });

  // --cache-from: the build imports these before solving, so the plan must see them too. This
  // adds their entries to the local cache (what the build would do first); cache-mount contents
  // are not restored, a plan never needs them.
  const warnings: string[] = [];
  for (const source of options.cacheFrom ?? []) {
    const imported = await importCache(
      { source, index, store },
      { registry: { auth: new DockerConfigCredentialStore(), ...(options.insecureRegistries ? { insecureRegistries: options.insecureRegistries } : {}) }, ...(options.signal ? { signal: options.signal } : {}) },
    );
    for (const w of imported.warnings) warnings.push(`cache import ${imported.cache}: ${w.message}`);
  }

  const snapshotter = await createSnapshotter({ root: path.join(cacheDir, 'snapshots'), mode: options.snapshotter ?? 'auto' });
  const statCache = await StatCache.load(cacheDir, contextDir).catch(() => undefined);
  const namedLocal = new Map([...named.values()].filter((c) => c.kind === 'local').map((c) => [c.name, path.resolve((c as { dir: string }).dir)] as const));
  const roots = new SourceRoots(contextDir, options.dockerfile === undefined ? file : undefined, namedLocal, statCache);
  const layerOps: Partial<Record<Step['kind'], LayerOpFactory>> = {
    // The executor is never started: only the key parts of RUN are asked for.
    RUN: runStep({
      executor: new RuncExecutor({ stateDir: path.join(cacheDir, 'runtime'), runtime: options.ociRuntime ?? 'runc' }),
      mounts: roots,
      secrets: new Map(Object.entries(options.secrets ?? {})),
      ssh: new Map(Object.entries(options.ssh ?? {})),
      cacheMountsDir: path.join(cacheDir, 'mounts'),
      allowInsecure: (options.allow ?? []).includes('security.insecure'),
      network: options.network ?? 'host',
    }),
    COPY: copyStep({ roots }),
    ADD: copyStep({ roots }),
    WORKDIR: workdirStep(),
  };
  const projectId = createHash('sha256').update(`${contextDir}\0${file}`).digest('hex').slice(0, 16);
  const solver = new PlanningSolver({ store, index, snapshotter, images, graph, dockerfileText: text, emit: () => undefined, projectId, layerOps });
  const planner = new Planner(solver, graph, index, store, images, layerOps, {
    projectId,
    noCache: options.noCache ?? false,
    ...(options.sourceDateEpoch !== undefined ? { sourceDateEpoch: options.sourceDateEpoch } : {}),
  });
  solver.planner = planner;
  await planner.stage(graph.target);
  const target = graph.stages.find((s) => s.index === graph.target)!;
  const order = (s: PlannedStep) => s.step.id;
  const steps = [...planner.steps].sort((a, b) => order(a) - order(b));
  return {
    dockerfile: fileLabel,
    target: target.name ?? String(target.index),
    platform: graph.platform.target.string,
    steps,
    summary: {
      hit: steps.filter((s) => s.prediction === 'hit').length,
      miss: steps.filter((s) => s.prediction === 'miss').length,
      unknown: steps.filter((s) => s.prediction === 'unknown').length,
    },
    warnings,
  };
}

/** The readable plan: one line per layer step with its prediction, reasons indented under it. */
export function formatPlan(plan: BuildPlan): string {
  const out = [`plan for ${plan.dockerfile} (target ${plan.target}, ${plan.platform}): nothing is run`];
  const labels = plan.steps.map((s) => `#${s.step.id} [${s.step.stage} ${s.step.index}/${s.step.total}] ${s.step.name.split('\n')[0]}`);
  const width = Math.min(70, Math.max(0, ...labels.map((l) => l.length)));
  plan.steps.forEach((s, i) => {
    const mark = s.prediction === 'hit' ? 'CACHED' : s.prediction === 'miss' ? 'RUN' : 'RUN?';
    const label = labels[i]!.length > width ? labels[i]!.slice(0, width - 1) + '…' : labels[i]!.padEnd(width);
    out.push(`${label}  ${mark}${s.layer ? `  ${s.layer.digest.slice(0, 19)}` : ''}`);
    for (const r of s.reasons) out.push(`    ${s.prediction === 'unknown' ? '?' : '-'} ${r}`);
  });
  const { hit, miss, unknown } = plan.summary;
  for (const w of plan.warnings) out.push(`warning: ${w}`);
  out.push(`${plan.steps.length} layer step${plan.steps.length === 1 ? '' : 's'}: ${hit} cached, ${miss} to run${unknown ? `, ${unknown} unknown until run` : ''}`);
  return `${out.join('\n')}\n`;
}
