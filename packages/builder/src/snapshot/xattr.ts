/**
 * Reading and writing extended attributes of many paths at once (l*xattr: symlinks are never
 * followed), through `@napi-rs/xattr`'s synchronous calls.
 *
 * Why synchronous: the batches here are small (a snapshot's copied-up directories and their
 * lower ancestors) and each call is one syscall of a few µs, while a thread-pool round trip costs
 * ~0.1–0.3 ms on a loaded machine. The native binding replaced a perl helper process per batch
 * (10–25 ms per RUN step: fork + exec of perl), which stays as the fallback where the binding
 * cannot be loaded (e.g. a bundle run away from node_modules), hence the lazy require.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';

type NativeXattr = typeof import('@napi-rs/xattr');

let native: NativeXattr | null | undefined;

/** The native binding, or null when it cannot be loaded here. */
function nativeXattr(): NativeXattr | null {
  if (native === undefined) {
    try {
      native = createRequire(import.meta.url)('@napi-rs/xattr') as NativeXattr;
    } catch {
      native = null;
    }
  }
  return native;
}

function errnoOf(err: unknown): number | undefined {
  const m = /os error (\d+)/.exec(err instanceof Error ? err.message : String(err));
  return m ? Number(m[1]) : undefined;
}

/** ENOENT, EPERM, ENODATA, ENOTSUP: "no attributes here", as the perl helper treated them. */
const ABSENT = new Set([1, 2, 61, 95]);

/**
 * All xattrs of each path (not following symlinks), values as Buffers. Paths without xattrs (or
 * where they are unsupported, or that do not exist) map to an empty object.
 *
 * @example
 * const x = await readXattrs(['/upper/etc']); x.get('/upper/etc')?.['trusted.overlay.opaque']?.toString() // 'y'
 */
export async function readXattrs(paths: readonly string[]): Promise<Map<string, Record<string, Buffer>>> {
  const xattr = nativeXattr();
  if (!xattr) return readXattrsPerl(paths);
  const result = new Map<string, Record<string, Buffer>>();
  for (const p of paths) {
    const values: Record<string, Buffer> = {};
    result.set(p, values);
    let names: string[];
    try {
      names = xattr.listAttributesSync(p);
    } catch (err) {
      if (ABSENT.has(errnoOf(err) ?? -1)) continue;
      throw err;
    }
    for (const name of names) {
      try {
        const v = xattr.getAttributeSync(p, name);
        values[name] = v ?? Buffer.alloc(0);
      } catch (err) {
        if (!ABSENT.has(errnoOf(err) ?? -1)) throw err;
      }
    }
  }
  return result;
}

/**
 * Sets xattrs on paths (not following symlinks). Rejects with the first failure, naming the path
 * and attribute.
 *
 * @example
 * await writeXattrs([{ path: '/layer/d', name: 'trusted.overlay.opaque', value: 'y' }])
 */
export async function writeXattrs(entries: ReadonlyArray<{ path: string; name: string; value: Buffer | string }>): Promise<void> {
  const xattr = nativeXattr();
  if (!xattr) return writeXattrsPerl(entries);
  for (const e of entries) {
    try {
      xattr.setAttributeSync(e.path, e.name, typeof e.value === 'string' ? Buffer.from(e.value) : e.value);
    } catch (err) {
      throw new Error(`setting xattr ${e.name} on ${e.path} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

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

/** {@link readXattrs} through one perl process. */
async function readXattrsPerl(paths: readonly string[]): Promise<Map<string, Record<string, Buffer>>> {
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

/** {@link writeXattrs} through one perl process. */
async function writeXattrsPerl(entries: ReadonlyArray<{ path: string; name: string; value: Buffer | string }>): Promise<void> {
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
