/** The committed Action bundle (GitHub runs action/dist/index.js as it is) matches the sources. */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { expect, it } from 'vitest';

it('action/dist/index.js is the bundle of the current sources', () => {
  const r = spawnSync(process.execPath, [path.resolve(__dirname, '../action/build.mjs'), '--check'], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
});
