/**
 * mount(2) and umount2(2) without a process per call.
 *
 * Node cannot call mount(2), and spawning util-linux `mount`/`umount` costs a fork of the whole
 * Node process: 5–9 ms each at the CLI's ~100 MB RSS (measured: the cost grows with RSS), twice
 * per RUN step. Instead one small perl process per build (perl-base is Essential on Debian and
 * Ubuntu) makes the syscalls on request over a pipe: mount + umount together take ~0.9 ms.
 *
 * The helper is an optimisation only. Where it cannot be used (no perl, an architecture whose
 * syscall numbers are not listed here, `BUILD_IMAGE_MOUNT_HELPER=0`) or where a call fails, the
 * callers fall back to the util-linux binaries, whose error messages users know.
 *
 * The helper inherits the caller's namespaces, so in a rootless build it mounts inside the
 * build's user and mount namespaces, as the binaries would.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';

/** mount(2) and umount2(2) numbers per Node architecture (from the kernel's syscall tables). */
const SYSCALLS: Partial<Record<NodeJS.Architecture, { mount: number; umount2: number }>> = {
  x64: { mount: 165, umount2: 166 },
  arm64: { mount: 40, umount2: 39 },
  riscv64: { mount: 40, umount2: 39 },
  ia32: { mount: 21, umount2: 52 },
  arm: { mount: 21, umount2: 52 },
  s390x: { mount: 21, umount2: 52 },
  ppc64: { mount: 21, umount2: 52 },
};

/**
 * The helper: reads requests (a field count, then that many NUL-terminated fields) and answers
 * each with the errno (0 on success) and a NUL. Requests are served in order. It exits when its
 * stdin closes, i.e. when the build process goes away.
 */
const SCRIPT = `
use strict; use warnings;
$| = 1; $/ = "\\0";
my ($SYS_MOUNT, $SYS_UMOUNT2) = @ARGV;
while (defined(my $n = <STDIN>)) {
  chomp $n;
  my @f;
  for (1 .. $n) { my $x = <STDIN>; exit 0 unless defined $x; chomp $x; push @f, $x; }
  my $op = shift @f;
  my $r = -1; $! = 22;
  if ($op eq 'mount') {
    my ($src, $target, $type, $data, $cwd) = @f;
    if ($cwd eq '' || chdir($cwd)) {
      $r = syscall($SYS_MOUNT, $src, $target, $type, 0, $data);
      my $e = $!;
      chdir('/');
      $! = $e;
    }
  } elsif ($op eq 'umount') {
    my ($target, $flags) = @f;
    $r = syscall($SYS_UMOUNT2, $target, 0 + $flags);
  }
  print(($r == 0 ? 0 : 0 + $!) . "\\0");
}
`;

type Helper = ChildProcessByStdio<Writable, Readable, null>;

let helper: Helper | null | undefined;
let pending: Array<(errno: number) => void> = [];
let received = '';

function start(): Helper | null {
  if (process.env.BUILD_IMAGE_MOUNT_HELPER === '0') return null;
  const nr = SYSCALLS[process.arch];
  if (!nr) return null;
  let child: Helper;
  try {
    child = spawn('perl', ['-e', SCRIPT, String(nr.mount), String(nr.umount2)], { stdio: ['pipe', 'pipe', 'ignore'] });
  } catch {
    return null;
  }
  const fail = () => {
    // Everything waiting gets "unavailable"; callers fall back to the binaries.
    if (helper === child) helper = null;
    const waiting = pending;
    pending = [];
    for (const w of waiting) w(-1);
  };
  child.on('error', fail);
  child.on('exit', fail);
  child.stdin.on('error', fail);
  child.stdout.setEncoding('latin1');
  child.stdout.on('data', (chunk: string) => {
    received += chunk;
    let nul: number;
    while ((nul = received.indexOf('\0')) >= 0) {
      const answer = Number(received.slice(0, nul));
      received = received.slice(nul + 1);
      pending.shift()?.(Number.isFinite(answer) ? answer : -1);
    }
    if (pending.length === 0) idle(child);
  });
  idle(child);
  return child;
}

/** An idle helper must not keep the process alive; a busy one must (its answer is awaited). */
function idle(child: Helper): void {
  child.unref();
  (child.stdout as Readable & { unref?: () => void }).unref?.();
}

function busy(child: Helper): void {
  child.ref();
  (child.stdout as Readable & { ref?: () => void }).ref?.();
}

/**
 * Sends one request; resolves to the errno (0 = success) or -1 when the helper is unavailable.
 * Field values must not contain NUL (paths and mount options never do).
 */
function request(fields: string[]): Promise<number> {
  if (helper === undefined) helper = start();
  const child = helper;
  if (!child || fields.some((f) => f.includes('\0'))) return Promise.resolve(-1);
  return new Promise<number>((resolve) => {
    pending.push(resolve);
    busy(child);
    child.stdin.write(`${fields.length}\0${fields.join('\0')}\0`, 'latin1');
  });
}

/**
 * mount(2) of `type` from `source` at `target` with `data` as options, relative paths in `data`
 * resolved from `cwd`. Resolves to 0, an errno, or -1 when the helper is not available here.
 */
export function helperMount(source: string, target: string, type: string, data: string, cwd = ''): Promise<number> {
  // latin1 both ways keeps bytes as they are; encode UTF-8 paths to their bytes first.
  const bytes = (s: string) => Buffer.from(s, 'utf8').toString('latin1');
  return request(['mount', bytes(source), bytes(target), bytes(type), bytes(data), bytes(cwd)]);
}

/** umount2(2) of `target` with `flags` (2 = MNT_DETACH). Resolves to 0, an errno, or -1 (no helper). */
export function helperUnmount(target: string, flags = 0): Promise<number> {
  return request(['umount', Buffer.from(target, 'utf8').toString('latin1'), String(flags)]);
}

/** Errno values the callers tell apart. */
export const Errno = { ENOENT: 2, EBUSY: 16, EINVAL: 22 } as const;
