/**
 * The seccomp filter of a sandboxed RUN. BuildKit gives RUN Docker's default profile (unless
 * `--security=insecure`); without one, a RUN running as root in the container could still reach
 * kernel interfaces that Docker's RUN cannot, chiefly new user namespaces, which most recent
 * container-escape exploits start from.
 *
 * This is our own deny-list, not Docker's allow-list: everything is allowed except the calls
 * below, which fail with EPERM (`clone3` with ENOSYS). What it denies is what Docker's profile
 * denies to a container with Docker's 14 capabilities and what a build has no use for: loading
 * kernel code, mounting and namespaces, host-wide state (keyrings, clocks, swap, accounting),
 * file handles, other processes' memory, and the interfaces with a record of privilege
 * escalations (bpf, perf events, userfaultfd, io_uring). A deny-list keeps the filter short
 * (runc compiles it before every RUN) and does not break new syscalls a new libc starts to use,
 * where an allow-list must be kept in step with the kernel.
 */
import type { SeccompProfile, SeccompRule } from './types.js';

/** Calls no sandboxed RUN may make (EPERM); names libseccomp does not know are skipped by runc. */
export const DENIED_SYSCALLS: readonly string[] = Object.freeze([
  // Kernel code and the machine: modules, kexec, reboot.
  'init_module', 'finit_module', 'delete_module', 'create_module', 'query_module', 'get_kernel_syms',
  'kexec_load', 'kexec_file_load', 'reboot',
  // Mounts and roots: runc has made the container's mounts before the filter applies.
  'mount', 'umount', 'umount2', 'pivot_root', 'fsopen', 'fsconfig', 'fsmount', 'fspick', 'move_mount', 'open_tree', 'mount_setattr',
  // Entering or creating namespaces (clone with namespace flags: below).
  'setns', 'unshare',
  // Host-wide state that no namespace isolates.
  'add_key', 'keyctl', 'request_key', 'acct', 'swapon', 'swapoff', 'quotactl', 'quotactl_fd',
  'settimeofday', 'stime', 'clock_settime', 'clock_settime64', 'syslog',
  // Interfaces with a record of privilege escalations and no use in a build.
  'bpf', 'perf_event_open', 'userfaultfd', 'lookup_dcookie', 'io_uring_setup', 'io_uring_enter', 'io_uring_register',
  // Opening files by handle bypasses the mount tree (the "shocker" escape).
  'open_by_handle_at', 'name_to_handle_at',
  // Other processes' memory and the machine's memory policy.
  'process_vm_readv', 'process_vm_writev', 'kcmp', 'mbind', 'set_mempolicy', 'migrate_pages', 'move_pages',
  // Raw hardware access and obsolete calls.
  'iopl', 'ioperm', 'nfsservctl', 'sysfs', '_sysctl', 'uselib', 'ustat', 'vm86', 'vm86old',
]);

/**
 * clone(2) flags that create namespaces: CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID,
 * NEWNET. A filter can only compare a masked argument for equality, so each flag is its own rule.
 */
export const CLONE_NAMESPACE_FLAGS: readonly number[] = Object.freeze([0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000]);

const EPERM = 1;
const ENOSYS = 38;

/** The seccomp architectures of each Node arch: the native one plus the 32-bit ABIs its kernel runs. */
const ARCHITECTURES: Readonly<Record<string, readonly string[]>> = Object.freeze({
  x64: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  arm64: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
});

/**
 * The filter for a sandboxed RUN on `arch` (a Node `process.arch`). Architectures this table does
 * not list get the native one only.
 *
 * @example
 * ```ts
 * sandboxSeccomp('x64').defaultAction // 'SCMP_ACT_ALLOW'
 * ```
 */
export function sandboxSeccomp(arch: string = process.arch): SeccompProfile {
  // The flags are clone's first argument, except on s390, which swaps the first two.
  const cloneFlagsArg = arch === 's390x' ? 1 : 0;
  const rules: SeccompRule[] = [
    { names: [...DENIED_SYSCALLS], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM },
    // clone3 passes its flags in memory a filter cannot read: ENOSYS makes libc fall back to
    // clone, whose flags the rules below see (what Docker does too).
    { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS },
    ...CLONE_NAMESPACE_FLAGS.map(
      (flag): SeccompRule => ({ names: ['clone'], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM, args: [{ index: cloneFlagsArg, value: flag, valueTwo: flag, op: 'SCMP_CMP_MASKED_EQ' }] }),
    ),
  ];
  return { defaultAction: 'SCMP_ACT_ALLOW', architectures: [...(ARCHITECTURES[arch] ?? [])], syscalls: rules };
}
