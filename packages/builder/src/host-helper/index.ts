/**
 * mount(2), umount2(2), flock(2) and process spawning without forking the Node process.
 *
 * Node cannot call mount(2), and every `child_process.spawn` forks the whole Node process: 4–9 ms
 * at the CLI's ~100 MB RSS (measured: the cost grows with RSS). A RUN step used to pay that three
 * times (mount, runc, umount). Instead one small perl process per build (perl-base is Essential on
 * Debian and Ubuntu) makes the syscalls and forks the runtime on request over a pipe: mount +
 * umount take ~0.9 ms together, a spawn ~1.5 ms.
 *
 * The helper is an optimisation only. Where it cannot be used (no perl, an architecture whose
 * syscall numbers are not listed here, `BUILD_IMAGE_HOST_HELPER=0`) or where a call fails, the
 * callers fall back to util-linux's binaries and to `child_process.spawn`, whose errors users know.
 * It inherits the caller's namespaces, so in a rootless build it works inside the build's user
 * and mount namespaces, as the binaries would.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { getSystemErrorName } from 'node:util';

/**
 * mount(2), umount2(2) and mknodat(2) numbers per Node architecture (from the kernel's syscall
 * tables). mknodat only where checked against the headers (x86-64, i386, the generic table of
 * arm64 and riscv64); elsewhere device nodes are made with coreutils' `mknod`.
 */
const SYSCALLS: Partial<Record<NodeJS.Architecture, { mount: number; umount2: number; mknodat?: number }>> = {
  x64: { mount: 165, umount2: 166, mknodat: 259 },
  arm64: { mount: 40, umount2: 39, mknodat: 33 },
  riscv64: { mount: 40, umount2: 39, mknodat: 33 },
  ia32: { mount: 21, umount2: 52, mknodat: 297 },
  arm: { mount: 21, umount2: 52 },
  s390x: { mount: 21, umount2: 52 },
  ppc64: { mount: 21, umount2: 52 },
};

/**
 * The helper. A request is a field count, then that many NUL-terminated fields; each is answered
 * in order with `R<errno>` (`R0 <pid>` for a spawn, `R0 <id>` for a lock) and a NUL. Locks are
 * held by the helper, so they are released when the build process (and with it the helper) ends,
 * however it ends. Children's exits are reported as
 * `X<pid> <wait status>` whenever they happen. A spawned child connects its stdout and stderr to
 * the caller's Unix socket (each connection starts with `<token> out|err\n`) and tells the helper
 * through a close-on-exec pipe whether it reached exec, so `R0` means "running, streams connected".
 * The helper exits when its stdin closes, i.e. when the build process goes away.
 */
const SCRIPT = `
use strict; use warnings; use Socket; use POSIX (); use Fcntl qw(:flock);
$| = 1; $/ = "\\0";
my ($SYS_MOUNT, $SYS_UMOUNT2, $SYS_MKNODAT) = @ARGV;
my (%locks, $lockSeq);
$SIG{CHLD} = sub { local ($!, $?); while ((my $pid = waitpid(-1, POSIX::WNOHANG())) > 0) { print "X$pid $?\\0"; } };
sub answer { print "R$_[0]\\0"; }
while (1) {
  my $n = <STDIN>;
  if (!defined $n) { next if $!{EINTR}; last; }
  chomp $n;
  my @f;
  for (1 .. $n) {
    my $x;
    do { $x = <STDIN>; } while (!defined $x && $!{EINTR});
    exit 0 unless defined $x;
    chomp $x; push @f, $x;
  }
  my $op = shift @f;
  if ($op eq 'mount') {
    my ($src, $target, $type, $data, $cwd) = @f;
    if ($cwd ne '' && !chdir($cwd)) { answer(0 + $!); next; }
    my $r = syscall($SYS_MOUNT, $src, $target, $type, 0, $data);
    my $e = 0 + $!;
    chdir('/');
    answer($r == 0 ? 0 : $e);
  } elsif ($op eq 'umount') {
    my ($target, $flags) = @f;
    answer(syscall($SYS_UMOUNT2, $target, 0 + $flags) == 0 ? 0 : 0 + $!);
  } elsif ($op eq 'mknod') {
    my ($path, $mode, $dev) = @f;
    if (!$SYS_MKNODAT) { answer(38); next; }
    # AT_FDCWD is -100; callers pass absolute paths.
    answer(syscall($SYS_MKNODAT, -100, $path, 0 + $mode, 0 + $dev) == 0 ? 0 : 0 + $!);
  } elsif ($op eq 'lock') {
    my ($file) = @f;
    my $fh;
    if (!open($fh, '>>', $file)) { answer(0 + $!); next; }
    if (!flock($fh, LOCK_EX | LOCK_NB)) { my $e = 0 + $!; close $fh; answer($e); next; }
    $locks{++$lockSeq} = $fh;
    answer("0 $lockSeq");
  } elsif ($op eq 'unlock') {
    my ($id) = @f;
    close(delete $locks{$id}) if exists $locks{$id};
    answer(0);
  } elsif ($op eq 'spawn') {
    my ($sock, $token, $cwd, @argv) = @f;
    my ($rd, $wr);
    if (!pipe($rd, $wr)) { answer(0 + $!); next; }
    my $pid = fork();
    if (!defined $pid) { answer(0 + $!); next; }
    if ($pid == 0) {
      close $rd;
      $SIG{CHLD} = 'DEFAULT';
      my $fail = sub { syswrite($wr, 0 + $!); POSIX::_exit(127); };
      for my $s (['out', \\*STDOUT], ['err', \\*STDERR]) {
        socket(my $c, AF_UNIX, SOCK_STREAM, 0) or $fail->();
        connect($c, pack_sockaddr_un($sock)) or $fail->();
        defined(syswrite($c, "$token $s->[0]\\n")) or $fail->();
        open($s->[1], '>&', $c) or $fail->();
        close $c;
      }
      open(STDIN, '<', '/dev/null') or $fail->();
      chdir($cwd) or $fail->();
      { no warnings 'exec'; exec { $argv[0] } @argv; }
      $fail->();
    }
    close $wr;
    my $buf = '';
    while (1) { my $r = sysread($rd, $buf, 32); last if defined $r; last unless $!{EINTR}; }
    close $rd;
    answer($buf eq '' ? "0 $pid" : "$buf $pid");
  } else {
    answer(22);
  }
}
`;

type Helper = ChildProcessByStdio<Writable, Readable, null>;

let helper: Helper | null | undefined;
let pending: Array<(answer: string | undefined) => void> = [];
let received = '';
/** Exit statuses by pid, until the spawn that owns the pid collects them. */
const exits = new Map<number, number>();
const exitWaiters = new Map<number, (status: number) => void>();

/** Switched off, or no syscall numbers for this architecture: callers use the binaries. */
function unsupported(): boolean {
  return process.env.BUILD_IMAGE_HOST_HELPER === '0' || !SYSCALLS[process.arch];
}

/** Starts the helper; only {@link request} calls it, after checking {@link unsupported}. */
function start(): Helper | null {
  const nr = SYSCALLS[process.arch]!;
  let child: Helper;
  try {
    child = spawn('perl', ['-e', SCRIPT, String(nr.mount), String(nr.umount2), String(nr.mknodat ?? '')], { stdio: ['pipe', 'pipe', 'ignore'] });
  } catch {
    return null;
  }
  const fail = () => {
    // Everything waiting gets "unavailable"; callers fall back.
    if (helper === child) helper = null;
    const waiting = pending;
    pending = [];
    for (const w of waiting) w(undefined);
    // Children it spawned outlive it; without it their exit is unknowable: report them killed.
    const orphans = [...exitWaiters.values()];
    exitWaiters.clear();
    for (const w of orphans) w(9);
  };
  child.on('error', fail);
  child.on('exit', fail);
  child.stdin.on('error', fail);
  child.stdout.setEncoding('latin1');
  child.stdout.on('data', (chunk: string) => {
    received += chunk;
    let nul: number;
    while ((nul = received.indexOf('\0')) >= 0) {
      const message = received.slice(0, nul);
      received = received.slice(nul + 1);
      if (message.startsWith('X')) {
        const [pid, status] = message.slice(1).split(' ').map(Number) as [number, number];
        const waiter = exitWaiters.get(pid);
        if (waiter) {
          exitWaiters.delete(pid);
          waiter(status);
        } else exits.set(pid, status);
      } else {
        pending.shift()?.(message.slice(1));
      }
    }
    refresh(child);
  });
  refresh(child);
  return child;
}

/** An idle helper must not keep the process alive; a busy one must (its answer is awaited). */
function refresh(child: Helper): void {
  const busy = pending.length > 0 || exitWaiters.size > 0;
  const stdout = child.stdout as Readable & { ref?: () => void; unref?: () => void };
  if (busy) {
    child.ref();
    stdout.ref?.();
  } else {
    child.unref();
    stdout.unref?.();
  }
}

/** Sends one request; resolves to the answer after `R`, or undefined when the helper is unavailable. */
function request(fields: string[]): Promise<string | undefined> {
  if (unsupported()) return Promise.resolve(undefined);
  if (helper === undefined) helper = start();
  const child = helper;
  if (!child || fields.some((f) => f.includes('\0'))) return Promise.resolve(undefined);
  // latin1 both ways keeps bytes as they are: UTF-8 paths are sent as their bytes.
  const bytes = fields.map((f) => Buffer.from(f, 'utf8').toString('latin1'));
  return new Promise((resolve) => {
    pending.push(resolve);
    refresh(child);
    child.stdin.write(`${bytes.length}\0${bytes.join('\0')}\0`, 'latin1');
  });
}

async function requestErrno(fields: string[]): Promise<number> {
  const answer = await request(fields);
  return answer === undefined ? -1 : Number(answer.split(' ')[0]);
}

/**
 * mount(2) of `type` from `source` at `target` with `data` as options, relative paths in `data`
 * resolved from `cwd`. Resolves to 0, an errno, or -1 when the helper is not available here.
 */
export function helperMount(source: string, target: string, type: string, data: string, cwd = ''): Promise<number> {
  return requestErrno(['mount', source, target, type, data, cwd]);
}

/** umount2(2) of `target` with `flags` (2 = MNT_DETACH). Resolves to 0, an errno, or -1 (no helper). */
export function helperUnmount(target: string, flags = 0): Promise<number> {
  return requestErrno(['umount', target, String(flags)]);
}

/**
 * mknodat(2) of the absolute `path` with `mode` (file type bits included) and device number `dev`.
 * Resolves to 0, an errno (38 where this architecture's number is not listed), or -1 when the
 * helper is not available here: then use coreutils' `mknod`. Node has no mknod, and a process per
 * node costs ~6 ms: a layer deleting 300 files took 1.8 s to extract for its whiteouts alone.
 */
export function helperMknod(path: string, mode: number, dev: number): Promise<number> {
  return requestErrno(['mknod', path, String(mode), String(dev)]);
}

/**
 * Tries to take an exclusive flock(2) on `file` (created if missing) without waiting. The helper
 * holds the lock, so it ends with the build process at the latest. Resolves to the lock's id,
 * `busy` when another holder has it, or undefined when the helper is not available here.
 */
export async function helperTryLock(file: string): Promise<number | 'busy' | undefined> {
  const answer = await request(['lock', file]);
  if (answer === undefined) return undefined;
  const [errno, id] = answer.split(' ');
  if (errno === '0') return Number(id);
  if (Number(errno) === os.constants.errno.EWOULDBLOCK) return 'busy';
  throw Object.assign(new Error(`cannot lock ${file}: ${getSystemErrorName(-Number(errno))}`), { errno: Number(errno) });
}

/** Releases a lock taken with {@link helperTryLock}. */
export async function helperUnlock(id: number): Promise<void> {
  await request(['unlock', String(id)]);
}

/** The Unix socket spawned children connect their output to, with the streams awaiting them. */
interface OutputServer {
  path: string;
  /** Connection name (`<token> out|err`) → the stream its bytes go to. */
  waiting: Map<string, { sink: PassThrough }>;
  server: net.Server;
}

let outputServer: Promise<OutputServer | null> | undefined;

function startOutputServer(): Promise<OutputServer | null> {
  return new Promise((resolve) => {
    let dir: string;
    try {
      dir = mkdtempSync(path.join(os.tmpdir(), 'bi-h-'));
    } catch {
      return resolve(null);
    }
    const socketPath = path.join(dir, 's');
    // sun_path holds 108 bytes; a longer TMPDIR means spawning the usual way.
    if (Buffer.byteLength(socketPath) > 100) {
      rmSync(dir, { recursive: true, force: true });
      return resolve(null);
    }
    const waiting: OutputServer['waiting'] = new Map();
    const server = net.createServer((socket) => {
      // The first line names the spawn and the stream; anything else is not ours.
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        const nl = head.indexOf(10);
        if (nl < 0) {
          if (head.length > 200) socket.destroy();
          return;
        }
        socket.off('data', onData);
        const name = head.subarray(0, nl).toString('latin1');
        const target = waiting.get(name);
        if (!target) return void socket.destroy();
        waiting.delete(name);
        // Wired up right here, in the same tick: a process that already exited has sent its
        // EOF too, and a socket paused for later would emit 'end' and 'close' unobserved.
        const rest = head.subarray(nl + 1);
        if (rest.length > 0) target.sink.write(rest);
        socket.pipe(target.sink);
        // A reset connection does not end the pipe's destination; the stream still ends.
        socket.once('close', () => {
          if (!target.sink.writableEnded) target.sink.end();
        });
      };
      socket.on('data', onData);
      socket.on('error', () => undefined);
    });
    server.on('error', () => resolve(null));
    server.listen(socketPath, () => {
      server.unref();
      process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
      resolve({ path: socketPath, waiting, server });
    });
  });
}

/**
 * A process spawned through the helper, shaped like the parts of `ChildProcess` the executor
 * uses. Unlike a ChildProcess it is handed over asynchronously, so a `close` listener added after
 * the process already ended is still called (on the next tick).
 */
export class HelperChild {
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  private closed: [number | null, NodeJS.Signals | null] | undefined;
  private readonly closeListeners: Array<(code: number | null, signal: NodeJS.Signals | null) => void> = [];

  constructor(
    readonly pid: number,
    readonly stdout: PassThrough,
    readonly stderr: PassThrough,
  ) {}

  /** `close`: exited and both streams ended. `error` never fires: a spawn that fails is declined before. */
  on(event: 'close', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: 'close' | 'error', listener: ((code: number | null, signal: NodeJS.Signals | null) => void) | ((err: Error) => void)): this {
    if (event !== 'close') return this;
    const onClose = listener as (code: number | null, signal: NodeJS.Signals | null) => void;
    const closed = this.closed;
    if (closed) process.nextTick(() => onClose(...closed));
    else this.closeListeners.push(onClose);
    return this;
  }

  /** Records the end and calls the `close` listeners. */
  finish(code: number | null, signal: NodeJS.Signals | null): void {
    this.exitCode = code;
    this.signalCode = signal;
    this.closed = [code, signal];
    for (const l of this.closeListeners.splice(0)) l(code, signal);
  }
}

/** Keeps the output server able to hold the process open while a spawn waits for its connections. */
let connecting = 0;
function holdServer(out: OutputServer, delta: number): void {
  connecting += delta;
  if (connecting > 0) out.server.ref();
  else out.server.unref();
}

function waitExit(pid: number): Promise<number> {
  return new Promise<number>((resolve) => {
    const known = exits.get(pid);
    if (known !== undefined) {
      exits.delete(pid);
      return resolve(known);
    }
    exitWaiters.set(pid, resolve);
    if (helper) refresh(helper);
  });
}

function signalName(n: number): NodeJS.Signals {
  return (Object.entries(os.constants.signals).find(([, v]) => v === n)?.[0] as NodeJS.Signals | undefined) ?? 'SIGKILL';
}

/**
 * Spawns `argv` in `cwd` through the helper, stdin from /dev/null and stdout/stderr as streams.
 * Resolves to undefined when the helper cannot do it (then spawn the usual way).
 */
export async function helperSpawn(argv: readonly string[], cwd: string): Promise<HelperChild | undefined> {
  if (argv.length === 0 || helper === null || unsupported()) return undefined;
  const out = await (outputServer ??= startOutputServer());
  if (!out) return undefined;
  const token = randomBytes(16).toString('hex');
  const names = [`${token} out`, `${token} err`] as const;
  const sinks = [new PassThrough(), new PassThrough()] as const;
  names.forEach((n, i) => out.waiting.set(n, { sink: sinks[i]! }));
  // As with a ChildProcess, `close` follows the end of both streams as their reader sees it,
  // so every byte has been delivered before it fires.
  const ended = sinks.map((sink) => new Promise<void>((r) => sink.once('end', () => r())));
  const connected = sinks.map((sink) => new Promise<void>((r) => sink.once('pipe', () => r())));
  holdServer(out, +1);
  const answer = await request(['spawn', out.path, token, cwd, ...argv]);
  const [errno, pidText] = (answer ?? '-1').split(' ');
  if (errno !== '0') {
    for (const n of names) out.waiting.delete(n);
    holdServer(out, -1);
    // A child that failed before exec still exits; collect its status so none is kept.
    if (pidText) void waitExit(Number(pidText));
    return undefined;
  }
  const child = new HelperChild(Number(pidText), sinks[0], sinks[1]);
  const status = waitExit(child.pid);
  // R0 means both connections were made before exec; they may still be in the accept queue.
  void Promise.all(connected).then(() => holdServer(out, -1));
  void status.then(async (s) => {
    await Promise.all(ended);
    if ((s & 0x7f) === 0) child.finish(s >> 8, null);
    else child.finish(null, signalName(s & 0x7f));
  });
  return child;
}
