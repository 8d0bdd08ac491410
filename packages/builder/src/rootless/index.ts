export { ensureUserNamespace, runInUserNamespace, explainUnshareFailure, UserNamespaceError, UNSHARE_ARGS, USERNS_ENV_MARKER } from './userns.js';
export type { RunInUserNamespaceOptions, UserNamespaceState } from './userns.js';
export { probe, formatProbe, cgroupMode } from './probe.js';
export type { ProbeCheck, ProbeOptions, ProbeReport } from './probe.js';
export { mappedIdCount, parseIdMap, runningInUserNamespace } from './idmap.js';
export type { IdMapExtent } from './idmap.js';
