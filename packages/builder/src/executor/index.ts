export type {
  ExecMount,
  ExecResult,
  ExecStep,
  Executor,
  NetworkMode,
  ResolvedUser,
  RuntimeMount,
  RuntimeSpec,
  RuntimeRlimit,
} from './types.js';
export {
  buildRuntimeSpec,
  toRootlessSpec,
  withDefaultPath,
  DEFAULT_CAPABILITIES,
  DEFAULT_HOSTNAME,
  DEFAULT_MASKED_PATHS,
  DEFAULT_PATH,
  DEFAULT_READONLY_PATHS,
} from './spec.js';
export type { RuntimeSpecOptions, RootlessSpecOptions } from './spec.js';
export { hostsFileContent, resolvConfContent, filterResolvDns, nameservers } from './etc-files.js';
export { resolveUser, resolveUserFrom, parsePasswd, parseGroup } from './user.js';
export { resolveInRoot } from './root-path.js';
export { prepareMounts } from './mounts.js';
export { recordMountStubs } from './stubs.js';
export { RuncExecutor } from './runc.js';
export { ensureStateDir, removeStateDir, runtimeStateDir, tmpfsStateDir } from './state-dir.js';
export type { RuncExecutorOptions } from './runc.js';
export {
  ExecAbortedError,
  RuntimeFailedError,
  RuntimeNotFoundError,
  RuntimeUnsupportedError,
  UserNotFoundError,
} from './errors.js';
