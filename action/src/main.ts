/**
 * Entry point GitHub runs (`node action/dist/index.js`, bundled). A non-root runner user gets the
 * build's user namespace by re-executing this file under `unshare` (stdio, env and the
 * GITHUB_OUTPUT / GITHUB_STEP_SUMMARY files pass through; uid 0 inside is the runner user).
 */
import './native.js';
import { ensureUserNamespace } from '@build-image/builder';
import { runAction } from './run.js';

async function main(): Promise<number> {
  const ns = await ensureUserNamespace();
  if (ns.state === 'reexec') return ns.exitCode;
  return runAction(process.env, { write: (t) => void process.stdout.write(t), cwd: process.env.GITHUB_WORKSPACE || process.cwd() });
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stdout.write(`::error::${String(e instanceof Error ? e.message : e).replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A')}\n`);
    process.exitCode = 1;
  },
);
