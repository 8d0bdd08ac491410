/**
 * The executor's vocabulary: what a RUN step asks for, and the subset of the OCI runtime spec
 * (opencontainers/runtime-spec config.md, config-linux.md) that build-image generates.
 */
import type { Writable } from 'node:stream';

/** Network mode of a RUN (`RUN --network=`). `host` is BuildKit's rootless default. */
export type NetworkMode = 'host' | 'none';

/** A `RUN --mount` after the solver resolved its source. */
export type ExecMount =
  | {
      type: 'bind';
      /** Host path, already materialized by the solver (context, stage or image). */
      source: string;
      target: string;
      /** Default true (BuildKit's default for bind mounts). A rw bind gets a throw-away overlay so the source is never modified. */
      readonly?: boolean;
    }
  | {
      type: 'cache';
      /** Host directory that persists between builds; the solver owns ids and sharing. */
      hostDir: string;
      target: string;
      /** Owner and mode given to the directory when it is created (defaults 0, 0, 0o755). */
      uid?: number;
      gid?: number;
      mode?: number;
      readonly?: boolean;
    }
  | {
      type: 'tmpfs';
      target: string;
      /** Size limit in bytes; unlimited (half of RAM, the kernel's default) when absent. */
      size?: number;
    }
  | {
      type: 'secret';
      target: string;
      /** Either a host file to read or the content itself. */
      hostFile?: string;
      content?: Uint8Array | string;
      /** Owner and mode inside (BuildKit defaults 0, 0, 0o400). */
      uid?: number;
      gid?: number;
      mode?: number;
    }
  | {
      type: 'ssh';
      /** Host path of the agent socket to expose. */
      socketPath: string;
      target: string;
    };

/** A resolved user: what runc needs in `process.user`. */
export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
}

/** One RUN to execute. */
export interface ExecStep {
  /** The root filesystem (a snapshot's merged dir). */
  rootfs: string;
  args: string[];
  /** `KEY=value` entries; PATH gets the default when absent. */
  env: string[];
  /** Absolute working directory; created (owned by the user) when missing. */
  cwd: string;
  /** `USER` value: `name`, `uid`, `name:group`, `uid:gid`; empty means root. */
  user: string;
  network?: NetworkMode;
  /** `RUN --security=insecure`: every capability, no masked paths, writable /sys (BuildKit's insecure mode). */
  security?: 'sandbox' | 'insecure';
  mounts?: ExecMount[];
  /** Extra `/etc/hosts` lines (`--add-host`). */
  extraHosts?: Array<{ host: string; ip: string }>;
  /** Receives output as it arrives. */
  onOutput?: (stream: 'stdout' | 'stderr', chunk: Buffer) => void;
  stdout?: Writable;
  stderr?: Writable;
  signal?: AbortSignal;
}

/** What a finished RUN reports. A non-zero `exitCode` is not an exception. */
export interface ExecResult {
  exitCode: number;
  /** Up to the last 20 output lines (stdout and stderr interleaved), for error reports. */
  tail: string[];
  /**
   * Paths (relative to the rootfs, no leading slash) that the runtime created as mount points
   * for `/proc`, `/dev` and `/sys` because the image lacked them. BuildKit keeps these in the
   * layer; a caller that wants them out passes them as `exclude` to the layer writer.
   * Stubs for `/etc/hosts`, `/etc/resolv.conf` and `--mount` targets are removed by the
   * executor itself (when still empty), as BuildKit does.
   */
  mountStubs: string[];
  /** Wall time of the runtime process in ms. */
  durationMs: number;
}

/** Runs RUN steps. `RuncExecutor` implements it. */
export interface Executor {
  run(step: ExecStep): Promise<ExecResult>;
  /** Called once the build's steps are done: frees what the executor kept between RUNs. */
  close?(): void;
}

/** An OCI runtime-spec mount. */
export interface RuntimeMount {
  destination: string;
  type: string;
  source: string;
  options?: string[];
}

export interface RuntimeCapabilities {
  bounding: string[];
  effective: string[];
  permitted: string[];
  inheritable?: string[];
  ambient?: string[];
}

export interface RuntimeRlimit {
  type: string;
  hard: number;
  soft: number;
}

export interface RuntimeDevice {
  path: string;
  type: 'c' | 'b' | 'p';
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

/** The generated OCI runtime spec (config.json). */
export interface RuntimeSpec {
  ociVersion: string;
  process: {
    terminal: boolean;
    user: { uid: number; gid: number; additionalGids?: number[] };
    args: string[];
    env: string[];
    cwd: string;
    capabilities: RuntimeCapabilities;
    rlimits?: RuntimeRlimit[];
    noNewPrivileges: boolean;
    oomScoreAdj?: number;
  };
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: RuntimeMount[];
  linux: {
    namespaces: Array<{ type: string; path?: string }>;
    maskedPaths: string[];
    readonlyPaths: string[];
    devices?: RuntimeDevice[];
    resources?: Record<string, unknown>;
    cgroupsPath?: string;
    uidMappings?: Array<{ containerID: number; hostID: number; size: number }>;
    gidMappings?: Array<{ containerID: number; hostID: number; size: number }>;
    seccomp?: SeccompProfile;
  };
}

/** An OCI runtime-spec seccomp rule: `names` get `action` (when every `args` condition holds). */
export interface SeccompRule {
  names: string[];
  action: 'SCMP_ACT_ALLOW' | 'SCMP_ACT_ERRNO';
  errnoRet?: number;
  args?: Array<{ index: number; value: number; valueTwo: number; op: 'SCMP_CMP_MASKED_EQ' | 'SCMP_CMP_EQ' | 'SCMP_CMP_NE' }>;
}

/** `linux.seccomp` of the OCI runtime spec. */
export interface SeccompProfile {
  defaultAction: 'SCMP_ACT_ALLOW' | 'SCMP_ACT_ERRNO';
  architectures: string[];
  syscalls: SeccompRule[];
}
