// Bundles the Action (node action/build.mjs): one CommonJS file GitHub runs directly, plus the
// native xattr binaries the bundle cannot contain (see src/native.ts).
import { build } from 'esbuild';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
// `node action/build.mjs --check`: bundle to a temp file and fail if dist/index.js differs (CI runs it
// through the test suite, so a library change without a rebuilt bundle does not land).
const check = process.argv.includes('--check');
const dist = check ? (await import('node:fs')).mkdtempSync(path.join((await import('node:os')).tmpdir(), 'action-bundle-')) : path.join(here, 'dist');
mkdirSync(dist, { recursive: true });
await build({
  entryPoints: [path.join(here, 'src/main.ts')],
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  outfile: path.join(dist, 'index.js'),
  // Workspace packages from their TypeScript sources.
  conditions: ['source'],
  external: ['*.node', '@napi-rs/xattr-*'],
  // cli/main.ts (reached through the package index) tests import.meta.url for "am I the entry"; in the bundle it never is.
  logOverride: { 'empty-import-meta': 'silent' },
  legalComments: 'none',
  sourcemap: false,
  minify: false,
  logLevel: 'warning',
});
if (check) {
  const { readFileSync, rmSync } = await import('node:fs');
  const same = readFileSync(path.join(dist, 'index.js')).equals(readFileSync(path.join(here, 'dist/index.js')));
  rmSync(dist, { recursive: true, force: true });
  if (!same) {
    console.error('action/dist/index.js is out of date: run `node action/build.mjs` and commit it');
    process.exit(1);
  }
  process.exit(0);
}
for (const arch of ['x64', 'arm64']) {
  const candidates = [
    path.join(here, `../node_modules/@napi-rs/xattr-linux-${arch}-gnu/xattr.linux-${arch}-gnu.node`),
  ];
  const dest = path.join(dist, `xattr.linux-${arch}-gnu.node`);
  const src = candidates.find((c) => existsSync(c));
  if (src) copyFileSync(src, dest);
  // Other architectures' binaries are committed in dist/ (from `npm pack @napi-rs/xattr-linux-<arch>-gnu`).
  else if (!existsSync(dest)) console.warn(`no xattr binary for linux/${arch}: runners of that architecture cannot use this bundle`);
}
