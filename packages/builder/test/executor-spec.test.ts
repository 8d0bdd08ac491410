/**
 * The pure parts of the executor: runtime spec, rootless transform, /etc files, USER resolution;
 * plus the runtime selection errors against the real binaries.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTempDirs, makeTempDir } from '../../../test/helpers/tmp.js';
import {
  buildRuntimeSpec,
  filterResolvDns,
  hostsFileContent,
  resolvConfContent,
  resolveUserFrom,
  RuncExecutor,
  toRootlessSpec,
} from '../src/executor/index.js';
import { makeBusyboxRootfs } from './executor-helpers.js';

afterAll(cleanupTempDirs);

const base = {
  rootfs: '/s/m',
  args: ['/bin/sh', '-c', 'true'],
  env: ['A=1'],
  cwd: '/',
  user: { uid: 0, gid: 0, additionalGids: [] },
  hostsPath: '/s/hosts',
  resolvConfPath: '/s/resolv.conf',
};

describe('buildRuntimeSpec', () => {
  it('is deterministic, Docker-like and host-networked by default', () => {
    const s = buildRuntimeSpec(base);
    expect(buildRuntimeSpec(base)).toEqual(s);
    expect(s.hostname).toBe('buildkitsandbox');
    expect(s.process.env).toEqual(['A=1', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin']);
    expect(s.process.capabilities.effective).toHaveLength(14);
    expect(s.process.capabilities.inheritable).toBeUndefined();
    expect(s.process.noNewPrivileges).toBe(false);
    expect(s.process.rlimits).toBeUndefined();
    expect(s.linux.namespaces.map((n) => n.type)).toEqual(['pid', 'ipc', 'uts', 'mount']);
    expect(s.linux.resources).toBeUndefined();
    expect(s.mounts.map((m) => m.destination)).toEqual([
      '/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup', '/etc/resolv.conf', '/etc/hosts',
    ]);
    expect(buildRuntimeSpec({ ...base, network: 'none' }).linux.namespaces.map((n) => n.type)).toContain('network');
    expect(buildRuntimeSpec({ ...base, env: ['PATH=/x'] }).process.env).toEqual(['PATH=/x']);
  });

  it('filters syscalls in the sandbox (namespaces, mounts, keyrings, bpf; clone3 as ENOSYS) and not in insecure mode', () => {
    const f = buildRuntimeSpec({ ...base, arch: 'x64' }).linux.seccomp!;
    expect(f.defaultAction).toBe('SCMP_ACT_ALLOW');
    expect(f.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    const errno = (name: string) => f.syscalls.filter((r) => r.names.includes(name) && !r.args).map((r) => r.errnoRet);
    for (const name of ['unshare', 'setns', 'mount', 'keyctl', 'add_key', 'bpf', 'perf_event_open', 'userfaultfd', 'open_by_handle_at', 'kexec_load', 'init_module', 'io_uring_setup']) {
      expect(errno(name), name).toEqual([1]);
    }
    expect(errno('clone3')).toEqual([38]);
    // Plain fork and threads stay allowed: only clone with a namespace flag is refused, one rule per flag.
    for (const name of ['clone', 'fork', 'vfork', 'execve', 'ptrace', 'personality', 'chroot', 'mknod']) expect(errno(name), name).toEqual([]);
    const cloneRules = f.syscalls.filter((r) => r.names.includes('clone'));
    expect(cloneRules.map((r) => r.args)).toEqual(
      [0x20000, 0x2000000, 0x4000000, 0x8000000, 0x10000000, 0x20000000, 0x40000000].map((flag) => [{ index: 0, value: flag, valueTwo: flag, op: 'SCMP_CMP_MASKED_EQ' }]),
    );
    expect(buildRuntimeSpec({ ...base, arch: 'arm64' }).linux.seccomp!.architectures).toEqual(['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
    expect(buildRuntimeSpec({ ...base, arch: 's390x' }).linux.seccomp!.syscalls.find((r) => r.names.includes('clone'))!.args![0]!.index).toBe(1);
    expect(buildRuntimeSpec({ ...base, security: 'insecure', currentCapabilities: [] }).linux.seccomp).toBeUndefined();
    // The rootless transform keeps it (a user namespace may install filters).
    expect(toRootlessSpec(buildRuntimeSpec(base)).linux.seccomp).toEqual(buildRuntimeSpec(base).linux.seccomp);
  });

  it('toRootlessSpec rbinds /sys without a netns and keeps sysfs with one', () => {
    const r = toRootlessSpec(buildRuntimeSpec(base));
    expect(r.mounts.find((m) => m.destination === '/sys')).toEqual({ destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] });
    expect(r.mounts.some((m) => m.destination === '/sys/fs/cgroup')).toBe(false);
    const n = toRootlessSpec(buildRuntimeSpec({ ...base, network: 'none' }));
    expect(n.mounts.find((m) => m.destination === '/sys')?.type).toBe('sysfs');
    const single = toRootlessSpec(buildRuntimeSpec({ ...base, user: { uid: 0, gid: 0, additionalGids: [5] } }), { singleIdMapping: true });
    expect(single.mounts.find((m) => m.type === 'devpts')?.options).not.toContain('gid=5');
    expect(single.process.user.additionalGids).toBeUndefined();
  });
});

describe('/etc files', () => {
  it('hosts like BuildKit, with extra hosts', () => {
    expect(hostsFileContent(undefined, [{ host: 'db', ip: '10.0.0.2' }])).toBe(
      '127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n10.0.0.2\tdb\n',
    );
  });
  it('resolv.conf: unchanged for host networking, loopback resolvers replaced otherwise', () => {
    const stub = 'nameserver 127.0.0.53\noptions edns0 trust-ad\nsearch .\n';
    expect(resolvConfContent(stub, 'host')).toBe(stub);
    expect(resolvConfContent(stub, 'none')).toBe(
      'options edns0 trust-ad\nsearch .\n\nnameserver 8.8.8.8\nnameserver 8.8.4.4\nnameserver 2001:4860:4860::8888\nnameserver 2001:4860:4860::8844',
    );
    expect(filterResolvDns('nameserver 10.0.0.1\nnameserver 127.0.0.1\n')).toBe('nameserver 10.0.0.1\n');
    expect(resolvConfContent('', 'host')).toContain('nameserver 8.8.8.8');
  });
});

describe('resolveUserFrom', () => {
  const passwd = 'root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n';
  const group = 'root:x:0:\nstaff:x:50:app,other\napp:x:1001:\ndocker:x:999:app\n';
  it.each([
    ['', { uid: 0, gid: 0, additionalGids: [] }],
    ['app', { uid: 1000, gid: 1001, additionalGids: [50, 999] }],
    ['1000', { uid: 1000, gid: 1001, additionalGids: [50, 999] }],
    ['1234', { uid: 1234, gid: 0, additionalGids: [] }],
    ['app:staff', { uid: 1000, gid: 50, additionalGids: [] }],
    ['1000:7', { uid: 1000, gid: 7, additionalGids: [] }],
    ['app:7', { uid: 1000, gid: 7, additionalGids: [] }],
  ])('%j', (spec, expected) => {
    expect(resolveUserFrom(spec, passwd, group)).toEqual(expected);
  });
  it('fails for unknown names with E_USER_NOT_FOUND', () => {
    expect(() => resolveUserFrom('nobody', passwd, group)).toThrow(expect.objectContaining({ code: 'E_USER_NOT_FOUND' }));
    expect(() => resolveUserFrom('app:nogroup', passwd, group)).toThrow(/unable to find group nogroup/);
  });
});

const has = (bin: string) => {
  try {
    execFileSync('sh', ['-c', `command -v ${bin}`]);
    return true;
  } catch {
    return false;
  }
};

describe.skipIf(process.getuid?.() !== 0)('runtime selection', () => {
  it('reports a missing runtime binary with E_RUNTIME_NOT_FOUND', async () => {
    const ex = new RuncExecutor({ stateDir: await makeTempDir('bi-rt-'), runtime: 'crun', runtimePath: undefined });
    if (has('crun')) return;
    await expect(ex.run({ rootfs: '/nonexistent', args: ['true'], env: [], cwd: '/', user: '' })).rejects.toMatchObject({ code: 'E_RUNTIME_NOT_FOUND' });
  });

  it.skipIf(!has('crun') || !has('runc'))('crun on a hybrid-cgroup host fails with E_RUNTIME_UNSUPPORTED', async () => {
    const hybrid = (() => {
      try {
        execFileSync('test', ['-e', '/sys/fs/cgroup/unified/cgroup.controllers']);
        return true;
      } catch {
        return false;
      }
    })();
    const tmp = await makeTempDir('bi-crun-');
    const rootfs = makeBusyboxRootfs(path.join(tmp, 'rootfs'));
    const ex = new RuncExecutor({ stateDir: path.join(tmp, 'state'), runtime: 'crun' });
    const p = ex.run({ rootfs, args: ['/bin/true'], env: [], cwd: '/', user: '' });
    if (hybrid) {
      await expect(p).rejects.toMatchObject({ code: 'E_RUNTIME_UNSUPPORTED', message: expect.stringContaining('hybrid') });
    } else {
      await expect(p).resolves.toMatchObject({ exitCode: 0 });
    }
  });

  it.skipIf(!has('runc'))('a missing executable is a runtime failure with runc’s message', async () => {
    const tmp = await makeTempDir('bi-rt-');
    const rootfs = makeBusyboxRootfs(path.join(tmp, 'rootfs'));
    const ex = new RuncExecutor({ stateDir: path.join(tmp, 'state') });
    await expect(ex.run({ rootfs, args: ['/nope'], env: [], cwd: '/', user: '' })).rejects.toMatchObject({
      code: 'E_RUNTIME_FAILED',
      message: expect.stringContaining('/nope'),
    });
  });
});
