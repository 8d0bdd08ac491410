/**
 * What a build and a plan share before solving: the Dockerfile read and turned into a graph
 * (with base-image configs, as BuildKit resolves them first), the cache, the registry client,
 * image sources, `--cache-from` imports, and the solver wired to the step modules.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { CacheIndex, ContentStore, resolveCacheDir } from '@build-image/cache';
import { BuildError } from '@build-image/errors';
import { createBuildGraph, listBaseImages, parseDockerfile, type BuildGraph, type ImageConfigInfo } from '@build-image/parser';
import { StatCache } from '../context/index.js';
import { RuncExecutor, runtimeStateDir } from '../executor/index.js';
import { hostPlatformString } from '../platform.js';
import type { ProgressListener } from '../progress/events.js';
import { DockerConfigCredentialStore, RegistryClient, type RegistryClientOptions } from '../registry/index.js';
import { importCache } from '../remote-cache/index.js';
import { createSnapshotter } from '../snapshot/index.js';
import type { BuildOptions } from './build.js';
import { copyStep } from './copy-step.js';
import { ImageSources } from './image-source.js';
import { cacheId, cacheMountHostDir, runStep } from './run-step.js';
import { Solver } from './solver.js';
import { SourceRoots } from './source-roots.js';
import { workdirStep } from './workdir-step.js';

export interface BuildSetup {
  text: string;
  /** The Dockerfile's name in locations and progress. */
  fileLabel: string;
  graph: BuildGraph;
  store: ContentStore;
  index: CacheIndex;
  registry: RegistryClient;
  /** Registry options for the remote-cache backends. */
  registryOptions: RegistryClientOptions;
  /** Host directories of the graph's cache mounts (for cache import/export). */
  cacheMounts: Array<{ id: string; dir: string }>;
  solver: Solver;
  /** Runs the RUN steps; {@link RuncExecutor.close} once the solver is done. */
  executor: RuncExecutor;
}

/**
 * Reads, resolves and wires everything; `--cache-from` caches are imported (their problems are
 * reported through `warn`, never thrown). With `plan`, the solver predicts instead of running.
 *
 * @example
 * ```ts
 * const { graph, solver } = await setupBuild(options, emit, warn, { plan: false })
 * const state = await solver.solveTarget()
 * ```
 */
export async function setupBuild(options: BuildOptions, emit: ProgressListener, warn: (message: string) => void, mode: { plan: boolean }): Promise<BuildSetup> {
  const now = options.now ?? Date.now;
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
  const registryOptions: RegistryClientOptions = {
    auth: new DockerConfigCredentialStore(),
    ...(options.insecureRegistries ? { insecureRegistries: options.insecureRegistries } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  };
  const registry = new RegistryClient({ ...registryOptions, ...(options.registryMirrors ? { mirrors: options.registryMirrors } : {}) });
  const named = new Map((options.buildContexts ?? []).map((c) => [c.name, c] as const));
  const images = new ImageSources(store, registry, named);

  const tree = parseDockerfile(text, { file: fileLabel });
  const graphOptions = {
    file: fileLabel,
    buildArgs: options.buildArgs ?? {},
    buildPlatform: hostPlatformString(),
    ...(options.platform ? { platform: options.platform } : {}),
    ...(options.target ? { target: options.target } : {}),
  };
  // Base images first: their ENV and ONBUILD triggers shape the graph (as BuildKit resolves them).
  const imageConfigs: Record<string, ImageConfigInfo> = {};
  const probe = createBuildGraph(tree, graphOptions);
  await Promise.all(
    listBaseImages(tree, graphOptions).map(async (b) => {
      const stage = probe.stages.find((s) => s.index === b.stage);
      if (!stage) return; // pruned: not needed for the target
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
  if (!mode.plan) emit({ v: 1, type: 'build-start', time: now(), dockerfile: fileLabel, ...(options.target ? { target: options.target } : {}), platform: graph.platform.target.string });

  const mountsDir = path.join(cacheDir, 'mounts');
  const mountIds = new Set<string>();
  for (const stage of graph.stages) for (const step of stage.steps) for (const m of step.mounts ?? []) if (m.type === 'cache') mountIds.add(cacheId(m));
  const cacheMounts = [...mountIds].map((id) => ({ id, dir: cacheMountHostDir(mountsDir, id) }));
  for (const source of options.cacheFrom ?? []) {
    // A plan never runs anything, so it needs the entries but not the cache-mount contents.
    const imported = await importCache({ source, index, store, ...(mode.plan ? {} : { mounts: cacheMounts }) }, { registry: registryOptions, ...(options.signal ? { signal: options.signal } : {}) });
    for (const w of imported.warnings) warn(`cache import ${imported.cache}: ${w.message}`);
    if (imported.found) emit({ v: 1, type: 'log', time: now(), level: 'info', message: `imported ${imported.entries} cache entries from ${imported.cache}` });
  }

  const snapshotter = await createSnapshotter({ root: path.join(cacheDir, 'snapshots'), mode: options.snapshotter ?? 'auto' });
  const statCache = await StatCache.load(cacheDir, contextDir).catch(() => undefined);
  const namedLocal = new Map([...named.values()].filter((c) => c.kind === 'local').map((c) => [c.name, path.resolve((c as { dir: string }).dir)] as const));
  const roots = new SourceRoots(contextDir, options.dockerfile === undefined ? file : undefined, namedLocal, statCache);
  // Constructing it starts nothing and creates nothing; a plan only asks RUN for its key parts.
  const executor = new RuncExecutor({
    stateDir: runtimeStateDir(cacheDir),
    runtime: options.ociRuntime ?? 'runc',
    ...(options.ulimits?.length ? { rlimits: options.ulimits.map((u) => ({ type: `RLIMIT_${u.name.toUpperCase()}`, soft: u.soft, hard: u.hard })) } : {}),
    ...(options.shmSize !== undefined ? { shmSize: options.shmSize } : {}),
  });
  const solver = new Solver({
    store,
    index,
    snapshotter,
    images,
    graph,
    dockerfileText: text,
    emit,
    projectId: createHash('sha256').update(`${contextDir}\0${file}`).digest('hex').slice(0, 16),
    layerOps: {
      RUN: runStep({
        executor,
        mounts: roots,
        secrets: new Map(Object.entries(options.secrets ?? {})),
        ssh: new Map(Object.entries(options.ssh ?? {})),
        cacheMountsDir: mountsDir,
        allowInsecure: (options.allow ?? []).includes('security.insecure'),
        network: options.network ?? 'host',
        extraHosts: options.addHosts ?? [],
        ulimits: options.ulimits ?? [],
        ...(options.shmSize !== undefined ? { shmSize: options.shmSize } : {}),
      }),
      COPY: copyStep({ roots }),
      ADD: copyStep({ roots }),
      WORKDIR: workdirStep(),
    },
    plan: mode.plan,
    buildArgs: options.buildArgs ?? {},
    ...(options.noCache ? { noCache: true } : {}),
    ...(options.sourceDateEpoch !== undefined ? { sourceDateEpoch: options.sourceDateEpoch } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  return { text, fileLabel, graph, store, index, registry, registryOptions, cacheMounts, solver, executor };
}
