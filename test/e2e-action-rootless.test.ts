/**
 * The Action bundle as a GitHub-hosted runner runs it: as an unprivileged user (bi-builder here,
 * `runner` there). The entry re-executes itself inside a user namespace, and the RUN step,
 * GITHUB_OUTPUT and the step summary must still work from in there.
 */
import { execFileSync } from 'node:child_process';
import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { busyboxLayout, giveTo } from './helpers/e2e-run.js';
import { cleanupTempDirs, makeTempDir } from './helpers/tmp.js';
import { ensureUnprivilegedUser, runAsUser, type UnprivilegedUser } from './helpers/unprivileged-user.js';

const repo = path.resolve(__dirname, '..');
let user: UnprivilegedUser;
let work: string;

beforeAll(async () => {
  user = ensureUnprivilegedUser();
  work = await makeTempDir('e2e-action-rootless-');
  await cp(path.join(repo, 'examples/hello'), path.join(work, 'src'), { recursive: true });
  await writeFile(path.join(work, 'output'), '');
  await writeFile(path.join(work, 'summary.md'), '');
  await giveTo(work, user.uid, user.gid);
}, 120_000);
afterAll(cleanupTempDirs);

describe('action bundle as an unprivileged runner user', () => {
  it('re-executes in a user namespace, runs RUN, writes outputs and summary', async () => {
    const r = await runAsUser(process.execPath, [path.join(repo, 'action/dist/index.js')], {
      cwd: work,
      timeoutMs: 120_000,
      env: {
        GITHUB_WORKSPACE: work,
        GITHUB_OUTPUT: path.join(work, 'output'),
        GITHUB_STEP_SUMMARY: path.join(work, 'summary.md'),
        RUNNER_TEMP: work,
        BUILD_IMAGE_CACHE_DIR: path.join(work, 'cache'),
        INPUT_CONTEXT: 'src',
        'INPUT_BUILD-CONTEXTS': `busybox=oci-layout://${await busyboxLayout()}:latest`,
        INPUT_OUTPUTS: `type=oci,dest=${work}/hello.tar`,
        INPUT_TAGS: 'hello:rootless',
      },
    });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/#\d+ \[base \d\/\d\] RUN echo/);
    const output = await readFile(path.join(work, 'output'), 'utf8');
    const digest = output.match(/^digest<<(ghadelimiter_[0-9a-f-]+)\n(sha256:[0-9a-f]{64})\n\1$/m)?.[2];
    expect(digest, output).toBeDefined();
    const raw = execFileSync('skopeo', ['inspect', '--raw', `oci-archive:${work}/hello.tar`]);
    expect(digest).toBe(`sha256:${(await import('node:crypto')).createHash('sha256').update(raw).digest('hex')}`);
    expect(await readFile(path.join(work, 'summary.md'), 'utf8')).toContain('| Steps | 3 run, 0 cached |');
  });
});
