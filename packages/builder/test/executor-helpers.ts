/**
 * Fixtures shared by the executor, snapshot and rootless tests: a busybox rootfs used as the
 * lower layer, and probes of what a run left behind (runc state, mounts).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, lstatSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { LayerApplier } from '../src/snapshot/index.js';

/** Writes a busybox rootfs: static busybox + applet symlinks, passwd/group with root and uid 1000, and a few files to modify. */
export function makeBusyboxRootfs(dir: string): string {
  mkdirSync(path.join(dir, 'bin'), { recursive: true });
  mkdirSync(path.join(dir, 'etc'));
  copyFileSync('/bin/busybox', path.join(dir, 'bin/busybox'));
  chmodSync(path.join(dir, 'bin/busybox'), 0o755);
  const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' }).split('\n').filter((a) => a && a !== 'busybox');
  for (const a of applets) execFileSync('ln', ['-sf', 'busybox', path.join(dir, 'bin', a)]);
  writeFileSync(path.join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n');
  writeFileSync(path.join(dir, 'etc/group'), 'root:x:0:\nuser:x:1000:\nwheel:x:10:user\n');
  mkdirSync(path.join(dir, 'tmp'), { mode: 0o1777 });
  chmodSync(path.join(dir, 'tmp'), 0o1777);
  mkdirSync(path.join(dir, 'root'), { mode: 0o700 });
  mkdirSync(path.join(dir, 'base/repl'), { recursive: true });
  writeFileSync(path.join(dir, 'base/mod'), 'base\n');
  writeFileSync(path.join(dir, 'base/del'), 'gone\n');
  writeFileSync(path.join(dir, 'base/repl/a'), 'a\n');
  writeFileSync(path.join(dir, 'base/repl/b'), 'b\n');
  return dir;
}

/** A LayerApplier whose layer is the given directory (a base layer has no whiteouts, so both modes copy). */
export function dirApplier(src: string): LayerApplier {
  return async (dir) => {
    execFileSync('cp', ['-a', `${src}/.`, `${dir}/`]);
  };
}

/** True when `p` is an overlay whiteout (0/0 character device). */
export function isWhiteout(p: string): boolean {
  try {
    const st = lstatSync(p);
    return st.isCharacterDevice() && st.rdev === 0;
  } catch {
    return false;
  }
}

/** Mount points of this process under `dir`. */
export function mountsUnder(dir: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m === dir || m.startsWith(dir + '/'));
}

/** Container ids runc knows under a `--root`. */
export function runcList(root: string): string[] {
  const out = execFileSync('runc', ['--root', root, 'list', '-q'], { encoding: 'utf8' });
  return out.split('\n').filter(Boolean);
}
