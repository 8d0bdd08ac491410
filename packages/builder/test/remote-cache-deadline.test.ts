/**
 * Regression: on Node 20 a signal from `AbortSignal.timeout()` that only `AbortSignal.any()` refers
 * to is garbage-collected and never fires, so an export under memory pressure ignored its time
 * budget and retried a throttling cache for minutes. `deadline()` must fire after a GC.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, it } from 'vitest';

const script = (modulePath: string, expr: string) => `
const { deadline } = await import(${JSON.stringify(pathToFileURL(modulePath).href)});
const other = new AbortController();
const s = ${expr};
let fired = false;
s.addEventListener('abort', () => { fired = true; });
for (let i = 0; i < 20; i++) { globalThis.gc(); await new Promise((r) => setTimeout(r, 20)); }
await new Promise((r) => setTimeout(r, 100));
console.log(fired ? 'fired' : 'not fired');
`;

function run(expr: string): string {
  const mod = path.resolve(__dirname, '../dist/remote-cache/deadline.js');
  const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script(mod, expr)], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  return r.stdout.trim();
}

it('a deadline combined with another signal fires after garbage collection', () => {
  expect(run('deadline(200, other.signal).signal')).toBe('fired');
});

