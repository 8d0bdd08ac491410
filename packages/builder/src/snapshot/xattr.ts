/**
 * Reading and writing extended attributes without a native addon: Node has no xattr API, so a
 * few lines of perl (part of every Debian/Ubuntu base system as perl-base) call
 * lgetxattr/lsetxattr/llistxattr by syscall number. One process handles a whole batch.
 */
import { execFile } from 'node:child_process';

const SYSCALLS: Record<string, { lsetxattr: number; lgetxattr: number; llistxattr: number }> = {
  x64: { lsetxattr: 189, lgetxattr: 192, llistxattr: 195 },
  arm64: { lsetxattr: 6, lgetxattr: 9, llistxattr: 12 },
  riscv64: { lsetxattr: 6, lgetxattr: 9, llistxattr: 12 },
  ia32: { lsetxattr: 227, lgetxattr: 230, llistxattr: 233 },
};

function numbers() {
  const n = SYSCALLS[process.arch];
  if (!n) throw new Error(`xattr access is not implemented for ${process.arch}`);
  return n;
}

function perl(script: string, input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('perl', ['-e', script], { maxBuffer: 256 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`perl xattr helper failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
    child.stdin?.end(input);
  });
}

/**
 * All xattrs of each path (not following symlinks), values as Buffers. Paths without xattrs
 * map to an empty object.
 */
export async function readXattrs(paths: readonly string[]): Promise<Map<string, Record<string, Buffer>>> {
  const n = numbers();
  const script = `
    $/ = "\\0";
    while (my $p = <STDIN>) { chomp $p;
      my $l = "\\0" x 65536; my $len = syscall(${n.llistxattr}, $p, $l, 65536);
      print unpack("H*", $p), "\\n";
      if ($len > 0) { for my $k (split(/\\0/, substr($l, 0, $len))) {
        my $v = "\\0" x 65536; my $vl = syscall(${n.lgetxattr}, $p, $k, $v, 65536);
        print "=", unpack("H*", $k), " ", ($vl >= 0 ? unpack("H*", substr($v, 0, $vl)) : ""), "\\n"; } }
    }`;
  const out = await perl(script, paths.map((p) => p + '\0').join(''));
  const result = new Map<string, Record<string, Buffer>>();
  let cur: Record<string, Buffer> | undefined;
  for (const line of out.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('=')) {
      const [k, v] = line.slice(1).split(' ');
      if (cur && k) cur[Buffer.from(k, 'hex').toString('utf8')] = Buffer.from(v ?? '', 'hex');
    } else {
      cur = {};
      result.set(Buffer.from(line, 'hex').toString('utf8'), cur);
    }
  }
  return result;
}

/** Sets xattrs on paths (not following symlinks). Rejects when any set fails. */
export async function writeXattrs(entries: ReadonlyArray<{ path: string; name: string; value: Buffer | string }>): Promise<void> {
  if (entries.length === 0) return;
  const n = numbers();
  const script = `
    $/ = "\\n"; my $bad = 0;
    while (my $line = <STDIN>) { chomp $line; my ($p, $k, $v) = map { pack("H*", $_) } split(/ /, $line, 3);
      $v = "" unless defined $v;
      if (syscall(${n.lsetxattr}, $p, $k, $v, length($v), 0) != 0) { print STDERR "$p $k: $!\\n"; $bad = 1; } }
    exit $bad;`;
  const hex = (s: Buffer | string) => Buffer.from(s).toString('hex');
  await perl(script, entries.map((e) => `${hex(e.path)} ${hex(e.name)} ${hex(e.value)}\n`).join(''));
}
