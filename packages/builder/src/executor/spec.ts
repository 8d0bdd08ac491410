/**
 * The OCI runtime spec for one RUN, built by a pure function (BuildKit: executor/oci/spec.go on
 * top of containerd's default Unix spec). The runc wrapper only writes it to disk.
 *
 * Deliberate differences from BuildKit, and why:
 * - the seccomp filter is our own deny-list, not Docker's allow-list (see seccomp.ts); like
 *   BuildKit, `--security=insecure` runs without one.
 * - no AppArmor profile (none is loaded on the hosts we target).
 * - no cgroup limits (`linux.resources`): hosts may be cgroup v1, hybrid or v2, and rootless
 *   runc cannot write to cgroups anyway.
 * - no `process.rlimits`: like BuildKit (moby/buildkit#678), the RUN inherits the engine's limits.
 */
import { sandboxSeccomp } from './seccomp.js';
import type { NetworkMode, ResolvedUser, RuntimeMount, RuntimeRlimit, RuntimeSpec } from './types.js';

/** PATH given to a RUN whose environment has none (Docker's and BuildKit's default). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Hostname inside every RUN, as BuildKit sets it (deterministic, unlike Docker's random id). */
export const DEFAULT_HOSTNAME = 'buildkitsandbox';

/**
 * Docker's 14 default capabilities (moby `oci/caps/defaults.go`), bit mask `0xa80425fb`.
 * Docker ≥ 20.10 leaves the inheritable and ambient sets empty.
 */
export const DEFAULT_CAPABILITIES: readonly string[] = Object.freeze([
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
]);

/** /proc and /sys paths hidden from the container (containerd's default spec, used by BuildKit). */
export const DEFAULT_MASKED_PATHS: readonly string[] = Object.freeze([
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
  '/proc/scsi',
]);

/** /proc paths mounted read-only (containerd's default spec). */
export const DEFAULT_READONLY_PATHS: readonly string[] = Object.freeze([
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
]);

/** Inputs of {@link buildRuntimeSpec}; everything host-specific arrives resolved. */
export interface RuntimeSpecOptions {
  /** Root filesystem directory (absolute). */
  rootfs: string;
  args: string[];
  env: string[];
  cwd: string;
  user: ResolvedUser;
  network?: NetworkMode;
  hostname?: string;
  /** Host path of the generated hosts file, bind-mounted read-only at /etc/hosts. */
  hostsPath: string;
  /** Host path of the generated resolv.conf, bind-mounted read-only at /etc/resolv.conf. */
  resolvConfPath: string;
  /** The step's own mounts, already translated (see `toRuntimeMounts`). */
  mounts?: RuntimeMount[];
  /** `--ulimit` values; absent means inherit the engine's limits. */
  rlimits?: RuntimeRlimit[];
  /** `RUN --security=insecure` (needs the security.insecure entitlement); default sandbox. */
  security?: SecurityMode;
  /** For insecure mode: the engine's own effective capabilities (see {@link currentCapabilities}). */
  currentCapabilities?: readonly string[];
  /** The Node arch whose seccomp architectures the filter lists (default: this process's). */
  arch?: string;
  /** Bytes of /dev/shm (default 64 MiB, Docker's). */
  shmSize?: number;
}

/** Capability names by bit number (linux/capability.h), for reading /proc/self/status masks. */
export const CAPABILITY_NAMES: readonly string[] = Object.freeze([
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK',
  'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT', 'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE',
  'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
]);

/**
 * The capability names set in a `/proc/<pid>/status` hex mask (`CapEff:`), as containerd's
 * `cap.Current()` reads them. Bits this table does not name are left out.
 */
export function capabilitiesFromMask(hex: string): string[] {
  const mask = BigInt(`0x${hex.trim() || '0'}`);
  return CAPABILITY_NAMES.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}

/** What `RUN --security=` asks for. */
export type SecurityMode = 'sandbox' | 'insecure';

/** Device nodes BuildKit adds in insecure mode outside a user namespace (util/entitlements/security). */
const INSECURE_DEVICES: ReadonlyArray<{ path: string; type: 'c' | 'b'; major: number; minor: number }> = Object.freeze([
  { path: '/dev/kmsg', type: 'c', major: 1, minor: 11 },
  { path: '/dev/cuse', type: 'c', major: 10, minor: 203 },
  { path: '/dev/fuse', type: 'c', major: 10, minor: 229 },
  { path: '/dev/kvm', type: 'c', major: 10, minor: 232 },
  { path: '/dev/net/tun', type: 'c', major: 10, minor: 200 },
  { path: '/dev/loop-control', type: 'c', major: 10, minor: 237 },
  // BuildKit asks the kernel for the first free loop device and adds it plus 7; from its
  // fallback (first free = 0) that is loop0..loop7.
  ...Array.from({ length: 8 }, (_, i) => ({ path: `/dev/loop${i}`, type: 'b' as const, major: 7, minor: i })),
]);

/**
 * BuildKit's insecure mode (`security.WithInsecureSpec` plus writable sysfs and cgroupfs): every
 * capability the engine has, no seccomp filter, no masked or read-only /proc paths, all devices allowed in the
 * device cgroup, the extra device nodes, and /sys and /sys/fs/cgroup mounted read-write.
 */
function applyInsecure(spec: RuntimeSpec, current: readonly string[]): void {
  const caps = [...new Set([...spec.process.capabilities.bounding, ...current])];
  spec.process.capabilities = { bounding: [...caps], effective: [...caps], permitted: [...caps], inheritable: [...caps], ambient: [...caps] };
  spec.linux.maskedPaths = [];
  spec.linux.readonlyPaths = [];
  delete spec.linux.seccomp;
  spec.linux.resources = { ...spec.linux.resources, devices: [{ allow: true, type: 'c', access: 'rwm' }, { allow: true, type: 'b', access: 'rwm' }] };
  spec.linux.devices = [...(spec.linux.devices ?? []), ...INSECURE_DEVICES.map((d) => ({ ...d }))];
  for (const m of spec.mounts) {
    if (m.destination === '/sys' || m.destination === '/sys/fs/cgroup') m.options = (m.options ?? []).map((o) => (o === 'ro' ? 'rw' : o));
  }
}

/** Adds PATH when the environment lacks it, keeping order otherwise. */
export function withDefaultPath(env: readonly string[]): string[] {
  return env.some((e) => e.startsWith('PATH=')) ? [...env] : [...env, `PATH=${DEFAULT_PATH}`];
}

/**
 * Builds the runtime spec of one RUN. Pure: same options, same object.
 *
 * @example
 * ```ts
 * const spec = buildRuntimeSpec({ rootfs: '/s/merged', args: ['/bin/sh', '-c', 'id'], env: [], cwd: '/',
 *   user: { uid: 0, gid: 0, additionalGids: [] }, hostsPath: '/s/hosts', resolvConfPath: '/s/resolv.conf' });
 * spec.process.capabilities.effective.length // 14
 * ```
 */
export function buildRuntimeSpec(options: RuntimeSpecOptions): RuntimeSpec {
  const network = options.network ?? 'host';
  const caps = [...DEFAULT_CAPABILITIES];
  const namespaces: Array<{ type: string }> = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }];
  // A new network namespace gives loopback only (runc brings lo up); host mode shares the host's.
  if (network === 'none') namespaces.push({ type: 'network' });
  const user: RuntimeSpec['process']['user'] = { uid: options.user.uid, gid: options.user.gid };
  // BuildKit (executor/oci ensureAdditionalGids, after containerd) always lists the primary gid
  // among the supplementary groups: `id` prints `groups=1000(app)` for a user in no group list.
  user.additionalGids = options.user.additionalGids.includes(options.user.gid) ? [...options.user.additionalGids] : [options.user.gid, ...options.user.additionalGids];
  const spec: RuntimeSpec = {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user,
      args: [...options.args],
      env: withDefaultPath(options.env),
      cwd: options.cwd,
      capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps] },
      noNewPrivileges: false,
    },
    root: { path: options.rootfs, readonly: false },
    hostname: options.hostname ?? DEFAULT_HOSTNAME,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      {
        destination: '/dev/pts',
        type: 'devpts',
        source: 'devpts',
        options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
      },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', options.shmSize === undefined ? 'size=65536k' : `size=${options.shmSize}`] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro', 'nosuid', 'noexec', 'nodev'] },
      { destination: '/etc/resolv.conf', type: 'bind', source: options.resolvConfPath, options: ['nosuid', 'noexec', 'nodev', 'rbind', 'ro'] },
      { destination: '/etc/hosts', type: 'bind', source: options.hostsPath, options: ['nosuid', 'noexec', 'nodev', 'rbind', 'ro'] },
      ...(options.mounts ?? []).map((m) => ({ ...m, ...(m.options ? { options: [...m.options] } : {}) })),
    ],
    linux: {
      namespaces,
      maskedPaths: [...DEFAULT_MASKED_PATHS],
      readonlyPaths: [...DEFAULT_READONLY_PATHS],
      // runc adds /dev/null, zero, full, random, urandom and tty itself (bind-mounting them
      // when it runs in a user namespace), plus /dev/ptmx -> pts/ptmx and /dev/fd links.
      seccomp: sandboxSeccomp(options.arch),
    },
  };
  if (options.rlimits && options.rlimits.length > 0) spec.process.rlimits = options.rlimits.map((r) => ({ ...r }));
  if (options.security === 'insecure') applyInsecure(spec, options.currentCapabilities ?? []);
  return spec;
}

/** Options of {@link toRootlessSpec}. */
export interface RootlessSpecOptions {
  /**
   * True when the user namespace maps only one id (no subuid range): devpts cannot use
   * `gid=5` and additional groups cannot be set.
   */
  singleIdMapping?: boolean;
}

/**
 * The changes a spec needs when the engine itself runs inside a user namespace (what BuildKit's
 * `util/rootless/specconv.ToRootless` and runc's `spec --rootless` do), as a second pure step:
 * - no cgroup settings (an unprivileged user cannot write to cgroups);
 * - `/sys` becomes a read-only rbind of the host's /sys when there is no network namespace,
 *   because sysfs can only be mounted by the owner of the network namespace; the cgroup mount
 *   goes with it (the rbind already carries /sys/fs/cgroup);
 * - device nodes cannot be created with mknod in a user namespace: runc bind-mounts the host's
 *   devices instead on its own, so nothing is listed in `linux.devices`;
 * - with a single-id mapping, devpts drops `gid=5` and the process drops additional groups.
 */
export function toRootlessSpec(spec: RuntimeSpec, options: RootlessSpecOptions = {}): RuntimeSpec {
  const out: RuntimeSpec = structuredClone(spec);
  delete out.linux.resources;
  delete out.linux.cgroupsPath;
  delete out.linux.devices;
  const hasNetNs = out.linux.namespaces.some((n) => n.type === 'network' && !n.path);
  const mounts: RuntimeMount[] = [];
  for (const m of out.mounts) {
    if (m.destination === '/sys' && m.type === 'sysfs' && !hasNetNs) {
      const rw = (m.options ?? []).includes('rw') ? 'rw' : 'ro';
      mounts.push({ destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', rw] });
      continue;
    }
    if (m.destination === '/sys/fs/cgroup' && m.type === 'cgroup') {
      if (hasNetNs) mounts.push(m);
      continue;
    }
    if (options.singleIdMapping && m.type === 'devpts') {
      mounts.push({ ...m, options: (m.options ?? []).filter((o) => o !== 'gid=5') });
      continue;
    }
    mounts.push(m);
  }
  out.mounts = mounts;
  if (options.singleIdMapping) delete out.process.user.additionalGids;
  return out;
}
