/**
 * A small, real base image for end-to-end tests: the host's static busybox with its applet
 * symlinks, a few users, packed as one deterministic gzip layer in an OCI image layout, and
 * optionally pushed to a test registry (with skopeo, an independent tool, so the fixture does not
 * depend on the code under test).
 *
 * The layout is generated once per busybox binary and fixture version under
 * `os.tmpdir()/build-image-fixtures/<hash>/` and reused by every test (and every test process).
 *
 * @example
 * ```ts
 * import { makeBusyboxImage } from '../../../test/helpers/busybox-image.js';
 * const img = await makeBusyboxImage({ registry: reg });   // pushes busybox:latest and busybox:1
 * // FROM ${reg.host}/busybox
 * const local = await makeBusyboxImage({ layoutDir: dir }); // OCI layout copy at dir, tag "latest"
 * ```
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, readFileSync } from 'node:fs';
import { chmod, chown, copyFile, cp, lstat, mkdir, readdir, readFile, readlink, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';
import type { TestRegistry } from './registry.js';

const execFileP = promisify(execFile);
/** Bump when the rootfs or image format changes, so stale caches are not reused. */
const FIXTURE_VERSION = 3;
const BUSYBOX = '/bin/busybox';
/** Fixed timestamp of every tar entry and of the config's `created` (2024-01-01T00:00:00Z). */
export const FIXTURE_EPOCH = 1704067200;

export const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
  'app:x:1000:1000::/home/app:/bin/sh',
  '',
].join('\n');
export const GROUP = ['root:x:0:', 'nogroup:x:65534:', 'app:x:1000:', ''].join('\n');

/** OCI platform of this host, e.g. `{ os: 'linux', architecture: 'amd64' }`. */
export function hostPlatform(): { os: string; architecture: string; variant?: string } {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  const architecture = arch[process.arch] ?? process.arch;
  return architecture === 'arm' ? { os: 'linux', architecture, variant: 'v7' } : { os: 'linux', architecture };
}

function busyboxApplets(): string[] {
  return execFileSync(BUSYBOX, ['--list'], { encoding: 'utf8' })
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s !== '' && s !== 'busybox' && !s.includes('/'));
}

/**
 * Writes the busybox root filesystem into `dir` (which may exist): `bin/busybox` and one
 * `bin/<applet>` → `busybox` symlink per applet, `usr/bin/env`, `etc/passwd` (root, nobody,
 * app:1000), `etc/group`, `tmp` (1777), `root` (0700), `home/app` (owned by 1000:1000).
 */
export async function makeBusyboxRootfs(dir: string): Promise<void> {
  for (const d of ['bin', 'etc', 'home', 'root', 'tmp', 'usr', 'usr/bin', 'home/app']) {
    await mkdir(path.join(dir, d), { recursive: true });
    await chmod(path.join(dir, d), 0o755); // independent of the umask
  }
  await copyFile(BUSYBOX, path.join(dir, 'bin/busybox'));
  await chmod(path.join(dir, 'bin/busybox'), 0o755);
  for (const applet of busyboxApplets()) {
    await rm(path.join(dir, 'bin', applet), { force: true });
    await symlink('busybox', path.join(dir, 'bin', applet));
  }
  await rm(path.join(dir, 'usr/bin/env'), { force: true });
  await symlink('../../bin/busybox', path.join(dir, 'usr/bin/env'));
  await writeFile(path.join(dir, 'etc/passwd'), PASSWD);
  await writeFile(path.join(dir, 'etc/group'), GROUP);
  await chmod(path.join(dir, 'etc/passwd'), 0o644);
  await chmod(path.join(dir, 'etc/group'), 0o644);
  await chmod(path.join(dir, 'tmp'), 0o1777);
  await chmod(path.join(dir, 'root'), 0o700);
  try {
    await chown(path.join(dir, 'home/app'), 1000, 1000);
  } catch (e) {
    // Unprivileged test runs cannot chown; the packed layer sets the owner itself.
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') throw e;
  }
}

/** Owner of each rootfs path in the packed layer: everything is root's except the app user's home. */
function ownerOf(rel: string): number {
  return rel === 'home/app' ? 1000 : 0;
}

/** The result of {@link makeBusyboxImage}. */
export interface BusyboxImage {
  /** `sha256:…` of the image manifest (identical in the layout and in the registry). */
  manifestDigest: string;
  manifest: {
    schemaVersion: 2;
    mediaType: string;
    config: { mediaType: string; digest: string; size: number };
    layers: Array<{ mediaType: string; digest: string; size: number }>;
  };
  manifestSize: number;
  /** The parsed image config. */
  config: {
    architecture: string;
    os: string;
    variant?: string;
    created: string;
    config: { Env: string[]; Cmd: string[] };
    rootfs: { type: 'layers'; diff_ids: string[] };
    history: Array<{ created: string; created_by: string }>;
  };
  configDigest: string;
  layerDigest: string;
  /** Uncompressed tar digest of the single layer. */
  diffId: string;
  /** The OCI layout: `layoutDir` when given, else the shared cached copy (treat as read-only). */
  layoutDir: string;
  /** References pushed, e.g. `['127.0.0.1:5000/busybox:latest', '127.0.0.1:5000/busybox:1']`. */
  pushed: string[];
}

/** Options of {@link makeBusyboxImage}. */
export interface MakeBusyboxImageOptions {
  /** Copy the OCI layout here (tags `latest` and `1` in index.json). */
  layoutDir?: string;
  /** Push to this registry (credentials taken from it). */
  registry?: Pick<TestRegistry, 'host' | 'username' | 'password'>;
  /** Repository (and tags) to push as, default `busybox` → `busybox:latest` and `busybox:1`. A tag in it pushes that tag only. */
  ref?: string;
}

let cached: Promise<Omit<BusyboxImage, 'pushed'>> | undefined;

/**
 * Builds (once) the busybox OCI image and copies and/or pushes it.
 * @example `const { manifestDigest } = await makeBusyboxImage({ registry: reg })`
 */
export async function makeBusyboxImage(options: MakeBusyboxImageOptions = {}): Promise<BusyboxImage> {
  const image = await (cached ??= cachedLayout());
  let layoutDir = image.layoutDir;
  if (options.layoutDir) {
    await mkdir(options.layoutDir, { recursive: true });
    await cp(image.layoutDir, options.layoutDir, { recursive: true });
    layoutDir = options.layoutDir;
  }
  const pushed: string[] = [];
  if (options.registry) {
    const ref = options.ref ?? 'busybox';
    const lastSlash = ref.lastIndexOf('/');
    const colon = ref.indexOf(':', lastSlash + 1);
    const repo = colon >= 0 ? ref.slice(0, colon) : ref;
    const tags = colon >= 0 ? [ref.slice(colon + 1)] : ['latest', '1'];
    const creds = options.registry.username ? ['--dest-creds', `${options.registry.username}:${options.registry.password}`] : [];
    for (const tag of tags) {
      const dest = `${options.registry.host}/${repo}:${tag}`;
      try {
        await execFileP('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', ...creds, `oci:${image.layoutDir}:latest`, `docker://${dest}`]);
      } catch (e) {
        throw new Error(`pushing the busybox fixture to ${dest} with skopeo failed: ${(e as { stderr?: string }).stderr ?? String(e)}`);
      }
      pushed.push(dest);
    }
  }
  return { ...image, layoutDir, pushed };
}

function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

async function cachedLayout(): Promise<Omit<BusyboxImage, 'pushed'>> {
  const busyboxHash = createHash('sha256').update(readFileSync(BUSYBOX)).digest('hex');
  const key = sha256Hex(`${FIXTURE_VERSION}\0${busyboxHash}\0${JSON.stringify(hostPlatform())}`).slice(0, 16);
  const root = path.join(os.tmpdir(), 'build-image-fixtures');
  const finalDir = path.join(root, `busybox-${key}`);
  const summaryPath = path.join(finalDir, 'fixture.json');
  try {
    return JSON.parse(await readFile(summaryPath, 'utf8')) as Omit<BusyboxImage, 'pushed'>;
  } catch {
    /* not built yet */
  }
  // Build in a private dir and rename into place: concurrent test processes may race, the first wins.
  const work = path.join(root, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(work, { recursive: true });
  try {
    const rootfs = path.join(work, 'rootfs');
    await makeBusyboxRootfs(rootfs);
    const layout = path.join(work, 'layout');
    const blobs = path.join(layout, 'blobs', 'sha256');
    await mkdir(blobs, { recursive: true });
    const layerTmp = path.join(work, 'layer.tar.gz');
    const { diffId, digest: layerDigest, size: layerSize } = await packLayer(rootfs, layerTmp);
    await rename(layerTmp, path.join(blobs, layerDigest.slice(7)));
    const platform = hostPlatform();
    const created = new Date(FIXTURE_EPOCH * 1000).toISOString();
    const config: BusyboxImage['config'] = {
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      created,
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['sh'] },
      rootfs: { type: 'layers', diff_ids: [diffId] },
      history: [{ created, created_by: 'build-image test fixture: busybox rootfs' }],
    };
    const configBytes = JSON.stringify(config);
    const configDigest = `sha256:${sha256Hex(configBytes)}`;
    await writeFile(path.join(blobs, configDigest.slice(7)), configBytes);
    const manifest: BusyboxImage['manifest'] = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: Buffer.byteLength(configBytes) },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layerDigest, size: layerSize }],
    };
    const manifestBytes = JSON.stringify(manifest);
    const manifestDigest = `sha256:${sha256Hex(manifestBytes)}`;
    await writeFile(path.join(blobs, manifestDigest.slice(7)), manifestBytes);
    const desc = (tag: string) => ({
      mediaType: manifest.mediaType,
      digest: manifestDigest,
      size: Buffer.byteLength(manifestBytes),
      annotations: { 'org.opencontainers.image.ref.name': tag },
    });
    await writeFile(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFile(path.join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [desc('latest'), desc('1')] }));
    await rm(rootfs, { recursive: true, force: true });
    const summary: Omit<BusyboxImage, 'pushed'> = {
      manifestDigest,
      manifest,
      manifestSize: Buffer.byteLength(manifestBytes),
      config,
      configDigest,
      layerDigest,
      diffId,
      layoutDir: path.join(finalDir, 'layout'),
    };
    await writeFile(path.join(work, 'fixture.json'), JSON.stringify(summary, null, 2));
    try {
      await rename(work, finalDir);
    } catch {
      // Another process won the race; its result is byte-identical.
      await rm(work, { recursive: true, force: true });
    }
    return JSON.parse(await readFile(summaryPath, 'utf8')) as Omit<BusyboxImage, 'pushed'>;
  } catch (e) {
    await rm(work, { recursive: true, force: true });
    throw e;
  }
}

/** A pass-through stream that hashes and counts what flows through it. */
function hashingTap(): Transform & { result(): { digest: string; size: number } } {
  const hash = createHash('sha256');
  let size = 0;
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  }) as Transform & { result(): { digest: string; size: number } };
  t.result = () => ({ digest: `sha256:${hash.digest('hex')}`, size });
  return t;
}

/**
 * Packs `rootfs` into a deterministic gzip tar at `out`: entries sorted by path, uid/gid as on disk
 * (0 except home/app: 1000), empty user/group names, every mtime {@link FIXTURE_EPOCH}.
 */
async function packLayer(rootfs: string, out: string): Promise<{ diffId: string; digest: string; size: number }> {
  const pack = tar.pack();
  const tarTap = hashingTap();
  const gzTap = hashingTap();
  const done = pipeline(pack, tarTap, createGzip({ level: 9 }), gzTap, createWriteStream(out));
  const mtime = new Date(FIXTURE_EPOCH * 1000);
  type EntryHeader = Parameters<typeof pack.entry>[0];
  const entry = (header: Partial<EntryHeader>) =>
    new Promise<void>((resolve, reject) => pack.entry(header as EntryHeader, (err?: Error | null) => (err ? reject(err) : resolve())));
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(path.join(rootfs, rel))).sort();
    for (const name of names) {
      const r = rel ? `${rel}/${name}` : name;
      const abs = path.join(rootfs, r);
      const st = await lstat(abs);
      const common = { name: r, mode: st.mode & 0o7777, uid: ownerOf(r), gid: ownerOf(r), uname: '', gname: '', mtime };
      if (st.isDirectory()) {
        await entry({ ...common, name: `${r}/`, type: 'directory' });
        await walk(r);
      } else if (st.isSymbolicLink()) {
        await entry({ ...common, type: 'symlink', linkname: await readlink(abs) });
      } else if (st.isFile()) {
        // Files here are small (busybox ≈ 2 MB); stream them anyway to keep memory flat.
        await new Promise<void>((resolve, reject) => {
          const sink = pack.entry({ ...common, type: 'file', size: st.size } as EntryHeader, (err?: Error | null) => (err ? reject(err) : resolve()));
          createReadStream(abs).on('error', reject).pipe(sink);
        });
      }
    }
  };
  await walk('');
  pack.finalize();
  await done;
  const gz = gzTap.result();
  return { diffId: tarTap.result().digest, digest: gz.digest, size: gz.size };
}

/** Size in bytes of a file (exported for tests that compare blob sizes). */
export async function fileSize(p: string): Promise<number> {
  return (await stat(p)).size;
}
