/**
 * probe(): the real host, as root and as the unprivileged test user.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanupTempDirs, makeTempDir } from '../../../test/helpers/tmp.js';
import { ensureUnprivilegedUser, runAsUser } from '../../../test/helpers/unprivileged-user.js';
import { formatProbe, probe } from '../src/rootless/index.js';
import type { ProbeReport } from '../src/rootless/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
afterAll(cleanupTempDirs);

describe('probe', () => {
  it.skipIf(process.getuid?.() !== 0)('as root: ready, overlay mountable, cgroup mode and runc detected', async () => {
    const r = await probe();
    expect(r.root).toBe(true);
    expect(r.ready).toBe(true);
    expect(r.runtimes.runc).toMatch(/^runc version /);
    const overlay = r.checks.find((c) => c.name === 'overlay snapshots');
    expect(overlay?.ok).toBe(true);
    const expected = existsSync('/sys/fs/cgroup/cgroup.controllers') ? 'v2' : existsSync('/sys/fs/cgroup/unified/cgroup.controllers') ? 'hybrid' : 'v1';
    expect(r.cgroupMode).toBe(expected);
    if (r.runtimes.crun && expected === 'hybrid') expect(r.checks.find((c) => c.name === 'crun usable')?.ok).toBe(false);
    const text = formatProbe(r);
    expect(text).toContain(`cgroups: ${expected}`);
    expect(text).toContain('[ok  ] runc installed: runc version');
    expect(text.endsWith('Ready to build.')).toBe(true);
  });

  it.skipIf(process.getuid?.() !== 0)('as the unprivileged user: finds its subuid range and mounts a rootless overlay', async () => {
    const user = ensureUnprivilegedUser();
    const dir = await makeTempDir('bi-probe-');
    chmodSync(dir, 0o755);
    const entry = path.join(dir, 'entry.ts');
    writeFileSync(entry, `import { probe } from ${JSON.stringify(path.join(here, '../src/rootless/index.js'))};\nprocess.stdout.write(JSON.stringify(await probe()));\n`);
    await build({ entryPoints: [entry], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: path.join(dir, 'probe.mjs'), logLevel: 'error' });
    const res = await runAsUser(process.execPath, [path.join(dir, 'probe.mjs')], { cwd: dir });
    expect(res.stderr).toBe('');
    const r = JSON.parse(res.stdout) as ProbeReport;
    expect(r.root).toBe(false);
    expect(r.user).toBe(user.name);
    expect(r.subuid).toEqual(user.subuid);
    expect(r.checks.find((c) => c.name === 'newuidmap installed and setuid')?.ok).toBe(true);
    expect(r.checks.find((c) => c.name === 'user namespace + rootless overlay (userxattr)')).toMatchObject({ ok: true });
    expect(r.ready).toBe(true);
  });

  it('names the fixing command for each failed check', () => {
    const report: ProbeReport = {
      user: 'alice',
      uid: 1001,
      root: false,
      inUserNamespace: false,
      cgroupMode: 'v2',
      runtimes: {},
      ready: false,
      checks: [
        { name: 'subordinate uid range (/etc/subuid, ≥ 65536)', ok: false, detail: 'no entry for alice', fix: 'sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 alice' },
        { name: 'runc installed', ok: false, detail: 'not found', fix: 'sudo apt-get install -y runc' },
        { name: 'overlay snapshots', ok: false, detail: 'x', fix: 'y', optional: true },
      ],
    };
    expect(formatProbe(report)).toBe(
      [
        'user: alice (uid 1001)',
        'cgroups: v2',
        '[FAIL] subordinate uid range (/etc/subuid, ≥ 65536): no entry for alice',
        '[FAIL] runc installed: not found',
        '[skip] overlay snapshots: x',
        '',
        'To fix:',
        '  sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 alice',
        '  sudo apt-get install -y runc',
        '',
        'Not ready to build: fix the failed checks above.',
      ].join('\n'),
    );
  });
});
