/**
 * `build()`: the library's entry point and what the CLI and the GitHub Action call. It wires the
 * parts together — Dockerfile → graph, base images, the solver over the cache, snapshots and the
 * executor — and then writes the outputs.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { ContentStore, Descriptor, Digest } from '@build-image/cache';
import { BuildError } from '@build-image/errors';
import type { BuildGraph } from '@build-image/parser';
import type { RegistryClient } from '../registry/index.js';
import { putImage, type Image, type ImageConfig } from '../image/index.js';
import { exportDockerTar, exportOciLayout, exportOciTar, exportRootfs, exportRootfsTar } from '../exporter/index.js';
import type { ProgressListener } from '../progress/events.js';
import type { AddHostSpec, BuildContextSpec, OutputSpec, UlimitSpec } from '../options/specs.js';
import { exportCache, type CacheExportSpec, type CacheImportSpec } from '../remote-cache/index.js';
import type { StageState } from './solver.js';
import type { SecretSource } from './run-step.js';
import { setupBuild } from './setup.js';
import { goTime } from './go-format.js';

/** Options of {@link build}; each mirrors a `build-image build` / `docker buildx build` flag. */
export interface BuildOptions {
  /** The build context directory (`CONTEXT`). */
  context: string;
  /** Dockerfile path (`-f`), relative to the current directory; default `<context>/Dockerfile`. */
  file?: string;
  /** Dockerfile text instead of a file. */
  dockerfile?: string;
  /** Image names (`-t`), used by the oci/docker/image/registry outputs. */
  tags?: string[];
  /** `--build-arg K=V`. */
  buildArgs?: Record<string, string>;
  /** `--target`: the stage to build (default the last). */
  target?: string;
  /** `--platform` (one platform; default the host's). */
  platform?: string;
  /** `--output` (several allowed). Without any, the image is built into the cache only. */
  outputs?: OutputSpec[];
  /** `--push`: shorthand for an image output pushed under `tags`. */
  push?: boolean;
  /** `--no-cache`: run every step (results are still stored). */
  noCache?: boolean;
  /** `--build-context NAME=SRC`. */
  buildContexts?: BuildContextSpec[];
  /** `--registry-mirror docker.io=URL` (several per registry allowed). */
  registryMirrors?: Record<string, string[]>;
  /** `--insecure-registry HOST[:PORT]`: plain HTTP. Loopback registries always are. */
  insecureRegistries?: string[];
  /** `--cache-dir`; default `$BUILD_IMAGE_CACHE_DIR`, `$XDG_CACHE_HOME/build-image`, `~/.cache/build-image`. */
  cacheDir?: string;
  /** `--label K=V`: added to the final image's labels. */
  labels?: Record<string, string>;
  /** `--secret id=…` sources. */
  secrets?: Record<string, SecretSource>;
  /** `--cache-from`: caches imported before the build (a missing one is a warning). */
  cacheFrom?: CacheImportSpec[];
  /** `--cache-to`: where the build's cache goes afterwards (fail-soft: problems are warnings). */
  cacheTo?: CacheExportSpec[];
  /** `--ssh id=socket`. */
  ssh?: Record<string, string>;
  /** `--network` default for RUN: host (BuildKit's rootless default) or none. */
  network?: 'host' | 'none';
  /** `--add-host`: lines added to every RUN's /etc/hosts (part of each RUN's cache key, as in BuildKit). */
  addHosts?: AddHostSpec[];
  /** `--ulimit`: resource limits of every RUN process (part of each RUN's cache key). */
  ulimits?: UlimitSpec[];
  /** `--shm-size` in bytes: the size of every RUN's /dev/shm (default 64 MiB; part of the key when set). */
  shmSize?: number;
  /** `--allow security.insecure`. */
  allow?: string[];
  /** SOURCE_DATE_EPOCH (seconds): image `created`, history times and layer mtimes are clamped to it. */
  sourceDateEpoch?: number;
  /** `--snapshotter auto|overlay|copy`. */
  snapshotter?: 'auto' | 'overlay' | 'copy';
  /** `--oci-runtime runc|crun`. */
  ociRuntime?: 'runc' | 'crun';
  /** Progress events, as `--progress=json` prints them. */
  onProgress?: ProgressListener;
  /** Stops the build (kills running containers, cleans up). */
  signal?: AbortSignal;
  /** Clock for `created` when SOURCE_DATE_EPOCH is not set. */
  now?: () => number;
}

/** Where an output went. */
export interface OutputResult {
  type: OutputSpec['type'];
  /** File, directory or pushed reference. */
  destination: string;
  /** Manifest digest as written or pushed (docker outputs re-serialize the manifest). */
  digest?: Digest;
}

/** What a finished build returns. */
export interface BuildResult {
  /** Manifest digest of the built image (OCI media types). */
  digest: Digest;
  /** Config digest: what `docker images` shows as the image id. */
  configDigest: Digest;
  descriptor: Descriptor;
  config: ImageConfig;
  /** Total size of the image's layers and config. */
  size: number;
  outputs: OutputResult[];
  /** Steps run and reused from the cache, with the reason of every miss. */
  cache: { run: number; cached: number; misses: Array<{ step: string; reasons: string[] }> };
  /** Remote cache import/export problems (never fatal), as BuildKit reports them. */
  warnings: string[];
  graph: BuildGraph;
}

/**
 * What buildx writes with `--metadata-file` (and build-push-action's `metadata` output), plus our
 * cache report under `build-image.cache`.
 *
 * @example
 * await writeFile('meta.json', JSON.stringify(buildMetadata(result, ['app:1'])))
 */
export function buildMetadata(result: BuildResult, names: readonly string[]): Record<string, unknown> {
  return {
    'containerimage.config.digest': result.configDigest,
    'containerimage.descriptor': result.descriptor,
    'containerimage.digest': result.digest,
    ...(names.length ? { 'image.name': names.join(',') } : {}),
    'build-image.cache': result.cache,
  };
}

/**
 * Builds a Dockerfile.
 *
 * @example
 * ```ts
 * const result = await build({ context: '.', tags: ['app:1'], outputs: [{ type: 'oci', dest: 'app.tar', tar: true, names: [], attrs: {} }] })
 * console.log(result.digest, result.cache)
 * ```
 */
export async function build(options: BuildOptions): Promise<BuildResult> {
  const now = options.now ?? Date.now;
  const started = now();
  const misses: Array<{ step: string; reasons: string[] }> = [];
  const emit: ProgressListener = (e) => {
    if (e.type === 'step-done' && e.miss) misses.push({ step: e.step.name, reasons: e.miss });
    options.onProgress?.(e);
  };
  const warnings: string[] = [];
  const warn = (message: string) => {
    warnings.push(message);
    emit({ v: 1, type: 'log', time: now(), level: 'warn', message });
  };
  const { graph, store, index, registry, registryOptions, cacheMounts, solver, executor } = await setupBuild(options, emit, warn, { plan: false });

  let state: StageState;
  try {
    state = await solver.solveTarget();
  } finally {
    executor.close();
  }
  const epoch = options.sourceDateEpoch !== undefined ? goTime(options.sourceDateEpoch * 1000) : undefined;
  const config = finalizeConfig(state, graph, options.labels ?? {}, epoch, options.platform !== undefined, state.baseHistoryLength);
  const image = await putImage(store, config, state.layers.map(({ diffId: _d, ...desc }) => desc));
  const outputs = await writeOutputs(image, store, registry, options);
  for (const spec of options.cacheTo ?? []) {
    const entries = solver.entries.map((e) => ({ key: e.key, stepId: e.stepId, stage: e.stage === graph.target ? ('target' as const) : ('intermediate' as const) }));
    const exported = await exportCache(spec, { entries, index, store, mounts: cacheMounts }, { registry: registryOptions, ...(options.sourceDateEpoch !== undefined ? { sourceDateEpoch: options.sourceDateEpoch } : {}) });
    for (const w of exported.warnings) warn(`cache export ${exported.cache}: ${w.message}`);
    for (const k of exported.skipped) warn(`cache export ${exported.cache}: skipped ${k.kind} ${k.id}: ${k.reason}`);
  }
  const size = image.layers.reduce((n, l) => n + l.size, 0) + image.manifest.config.size;
  const result: BuildResult = {
    digest: image.manifestDescriptor.digest,
    configDigest: image.manifest.config.digest,
    descriptor: image.manifestDescriptor,
    config,
    size,
    outputs,
    cache: { ...solver.counts, misses },
    warnings,
    graph,
  };
  emit({
    v: 1,
    type: 'build-done',
    time: solver.now(),
    durationMs: solver.now() - started,
    steps: solver.counts,
    image: { digest: result.digest, configDigest: result.configDigest, size },
    outputs: outputs.map((o) => `${o.type}:${o.destination}`),
  });
  return result;
}

/**
 * The exported config, as BuildKit's exporter finishes it: `--label`s; history times — a layer's
 * entry keeps the time the layer was first made (so cached rebuilds reproduce the digest), a
 * metadata entry takes the time of the layer before it (normalizeLayersAndHistory), and with
 * SOURCE_DATE_EPOCH everything this build added is clamped to it (patchImageConfig); `created` is
 * the epoch or the last history time; the target platform only when `--platform` was given
 * (otherwise the base image's platform stands, BuildKit's implicit target).
 */
function finalizeConfig(state: StageState, graph: BuildGraph, labels: Record<string, string>, epoch: string | undefined, explicitPlatform: boolean, baseHistoryLength: number): ImageConfig {
  const config = structuredClone(state.config);
  if (explicitPlatform) {
    const target = graph.stages.find((s) => s.index === graph.target)!.platform;
    const sameOsArch = config.os === target.os && config.architecture === target.architecture;
    config.os = target.os;
    config.architecture = target.architecture;
    if (target.variant || !sameOsArch) {
      if (target.variant) config.variant = target.variant;
      else delete config.variant;
    }
  }
  if (Object.keys(labels).length) config.config = { ...config.config, Labels: { ...config.config?.Labels, ...labels } };
  const history = (config.history ?? []).map((h) => ({ ...h }));
  let created: string | undefined;
  let missing = false;
  for (const h of history) {
    if (h.created) {
      created = h.created;
      if (missing) break;
    } else missing = true;
  }
  missing = false;
  for (const h of history) {
    if (h.created) {
      if (missing) created = h.created;
    } else {
      missing = true;
      if (created) h.created = created;
    }
  }
  if (epoch) {
    for (let i = baseHistoryLength; i < history.length; i++) {
      const h = history[i]!;
      if (!h.created || Date.parse(h.created) > Date.parse(epoch)) h.created = epoch;
    }
  }
  config.history = history;
  const last = [...history].reverse().find((h) => h.created)?.created;
  config.created = epoch ?? last ?? goTime(0);
  config.rootfs = { type: 'layers', diff_ids: state.layers.map((l) => l.diffId!) };
  return config;
}

async function writeOutputs(image: Image, store: ContentStore, registry: RegistryClient, options: BuildOptions): Promise<OutputResult[]> {
  const specs = [...(options.outputs ?? [])];
  const tags = options.tags ?? [];
  if (options.push) specs.push({ type: 'image', names: [], push: true, insecure: false, attrs: {} });
  const results: OutputResult[] = [];
  for (const spec of specs) {
    switch (spec.type) {
      case 'oci':
      case 'docker': {
        const names = spec.names.length ? spec.names : tags;
        const dest = spec.dest ?? '-';
        if (!spec.tar) {
          await exportOciLayout(image, store, path.resolve(dest), { names });
          results.push({ type: spec.type, destination: path.resolve(dest), digest: image.manifestDescriptor.digest });
          break;
        }
        if (dest !== '-') await mkdir(path.dirname(path.resolve(dest)), { recursive: true });
        const target = dest === '-' ? process.stdout : path.resolve(dest);
        if (spec.type === 'oci') {
          await exportOciTar(image, store, target, { names });
          results.push({ type: 'oci', destination: dest, digest: image.manifestDescriptor.digest });
        } else {
          const docker = await exportDockerTar(image, store, target, { names });
          results.push({ type: 'docker', destination: dest, digest: docker.manifestDescriptor.digest });
        }
        break;
      }
      case 'local': {
        const dest = path.resolve(spec.dest);
        await exportRootfs(image, store, dest);
        results.push({ type: 'local', destination: dest });
        break;
      }
      case 'tar': {
        if (spec.dest !== '-') await mkdir(path.dirname(path.resolve(spec.dest)), { recursive: true });
        const dest = spec.dest === '-' ? process.stdout : path.resolve(spec.dest);
        await exportRootfsTar(image, store, dest, options.sourceDateEpoch !== undefined ? { sourceDateEpoch: options.sourceDateEpoch } : {});
        results.push({ type: 'tar', destination: spec.dest });
        break;
      }
      case 'image':
      case 'registry': {
        const names = spec.names.length ? spec.names : tags;
        if (!spec.push) {
          results.push({ type: spec.type, destination: names.join(',') || '(untagged)', digest: image.manifestDescriptor.digest });
          break;
        }
        if (!names.length) throw new BuildError('E_OUTPUT', 'pushing needs an image name: pass -t NAME or --output type=registry,name=NAME');
        // The exact stored bytes: the digest is over them.
        const manifest = await store.getBytes(image.manifestDescriptor.digest);
        const pushed = await registry.pushImage(names, { manifest, mediaType: image.manifestDescriptor.mediaType }, store);
        for (const n of pushed.references) results.push({ type: spec.type, destination: n, digest: pushed.digest });
        break;
      }
    }
  }
  return results;
}

