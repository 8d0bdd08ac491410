/**
 * build-image: daemonless, rootless Dockerfile builds as a library.
 *
 * The one-call API is {@link build}; the CLI (`build-image`) and the GitHub Action are thin
 * clients of it. The step primitives below it — registry client, layers, snapshots, the OCI
 * runtime executor, exporters — are exported for tools that assemble images their own way.
 *
 * @example
 * ```ts
 * import { build } from '@build-image/builder';
 * const result = await build({ context: '.', tags: ['app:dev'], outputs: [{ type: 'oci', dest: 'app.tar', tar: true, names: [], attrs: {} }] });
 * console.log(result.digest, `${result.cache.cached} steps cached`);
 * ```
 */
export { build, buildMetadata, type BuildOptions, type BuildResult, type OutputResult } from './solve/build.js';
export { planBuild, formatPlan, type BuildPlan, type PlannedStep, type Prediction } from './plan/index.js';
export type { SecretSource } from './solve/run-step.js';
export { StepFailedError } from './solve/errors.js';
export type { ProgressEvent, ProgressListener, StepRef } from './progress/events.js';
export { plainRenderer, jsonRenderer } from './progress/plain.js';
export { ttyRenderer, humanSize } from './progress/tty.js';
export {
  parseOutputSpec,
  parseBuildContextSpec,
  parseSecretSpec,
  parseSshSpec,
  parseAddHostSpec,
  parseUlimitSpec,
  parseByteSize,
  parseCsvPairs,
  OptionError,
  type OutputSpec,
  type BuildContextSpec,
  type SecretSpec,
  type SshSpec,
  type AddHostSpec,
  type UlimitSpec,
} from './options/specs.js';
export { probe, formatProbe, ensureUserNamespace, type ProbeReport } from './rootless/index.js';

export * from './reference/index.js';
export {
  RegistryClient,
  RegistryError,
  DockerConfigCredentialStore,
  StaticCredentialStore,
  CredentialsError,
  type RegistryClientOptions,
  type ResolvedImage,
  type PushResult,
  type Credentials,
  type CredentialStore,
} from './registry/index.js';
export * from './image/index.js';
export { applyLayer, writeLayerFromDirectory, writeLayerFromEntries, LayerError, type ApplyLayerOptions, type WrittenLayer, type LayerEntry } from './layer/index.js';
export { exportOciLayout, exportOciTar, exportDockerTar, exportRootfs, ExportError } from './exporter/index.js';
export { readOciLayout, importOciLayoutBlobs, OciLayoutError } from './oci-layout/index.js';
export { createSnapshotter, type Snapshotter, type MutableSnapshot } from './snapshot/index.js';
export { RuncExecutor, buildRuntimeSpec, toRootlessSpec, type Executor, type ExecStep, type ExecResult, type ExecMount } from './executor/index.js';
export { loadContext, selectSources, hashSelection, StatCache, PatternMatcher, readIgnoreFile, DockerignoreError, ContextEscapeError, SourceNotFoundError } from './context/index.js';
export {
  parseCacheExportSpec,
  parseCacheImportSpec,
  exportCache,
  importCache,
  RemoteCacheError,
  type CacheExportSpec,
  type CacheImportSpec,
  type ExportCacheResult,
  type ImportCacheResult,
} from './remote-cache/index.js';
