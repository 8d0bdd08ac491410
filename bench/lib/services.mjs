// Long-running helpers of the comparison: the loopback registry on 127.0.0.1:5000 and a private
// dockerd. Both live under /tmp/bi-bench and are stopped by the harness in a finally; neither
// touches a system daemon or store.
import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { run, tailOf, waitFor } from './proc.mjs';

export const BENCH_ROOT = '/tmp/bi-bench';
export const REGISTRY_HOST = '127.0.0.1:5000';
export const DOCKER_SOCK = `unix://${BENCH_ROOT}/docker.sock`;

function startDaemon(bin, args, logFile) {
  const fd = openSync(logFile, 'a');
  const child = spawn(bin, args, { stdio: ['ignore', fd, fd], detached: true });
  closeSync(fd);
  return child;
}

function stopDaemon(child, timeoutMs = 20_000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const hard = setTimeout(() => {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }, timeoutMs);
    child.once('exit', () => {
      clearTimeout(hard);
      resolve();
    });
    try {
      child.kill('SIGTERM');
    } catch {
      resolve();
    }
  });
}

function httpStatus(url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', reject);
  });
}

function portOpen(host, port) {
  return new Promise((resolve) => {
    const s = net.connect({ host, port }, () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Makes sure a registry answers on 127.0.0.1:5000: reuses one that is already there (and leaves
 * it running), otherwise starts Debian's docker-registry with its own storage under
 * /tmp/bi-bench/registry. Returns {stop(), started}.
 */
export async function ensureRegistry() {
  const url = `http://${REGISTRY_HOST}/v2/`;
  if (await portOpen('127.0.0.1', 5000)) {
    const status = await httpStatus(url).catch((e) => e.message);
    if (status !== 200) throw new Error(`127.0.0.1:5000 is taken by something that is not an open registry (GET /v2/ → ${status}); free the port`);
    return { started: false, stop: async () => {} };
  }
  const dir = path.join(BENCH_ROOT, 'registry');
  await rm(dir, { recursive: true, force: true });
  await mkdir(path.join(dir, 'storage'), { recursive: true });
  const config = path.join(dir, 'config.yml');
  await writeFile(
    config,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${dir}/storage`,
      'http:',
      `  addr: ${REGISTRY_HOST}`,
      '',
    ].join('\n'),
  );
  const log = path.join(dir, 'registry.log');
  const child = startDaemon('/usr/bin/docker-registry', ['serve', config], log);
  try {
    await waitFor(async () => (await httpStatus(url)) === 200, 20_000, 'docker-registry on 127.0.0.1:5000');
  } catch (err) {
    await stopDaemon(child);
    throw new Error(`${err.message}\n${await tailOf(log)}`);
  }
  return { started: true, stop: () => stopDaemon(child) };
}

/** Environment for the Debian docker client talking to the private daemon. */
export function dockerEnv() {
  return { ...process.env, DOCKER_BUILDKIT: '1', DOCKER_HOST: DOCKER_SOCK, DOCKER_CONFIG: path.join(BENCH_ROOT, 'docker-config') };
}

/**
 * Starts a private dockerd (own socket, data root, exec root, managed containerd; no iptables,
 * no bridge, so no network-namespace games) and waits for `docker info`. Returns {pid, stop()}.
 * Throws with dockerd's log tail when it does not come up.
 */
export async function startDockerd() {
  await mkdir(BENCH_ROOT, { recursive: true });
  await mkdir(path.join(BENCH_ROOT, 'docker-config'), { recursive: true });
  const log = path.join(BENCH_ROOT, 'dockerd.log');
  await rm(log, { force: true });
  const pidfile = path.join(BENCH_ROOT, 'docker.pid');
  const child = startDaemon(
    '/usr/sbin/dockerd',
    [
      '--host', DOCKER_SOCK,
      '--data-root', path.join(BENCH_ROOT, 'docker'),
      '--exec-root', path.join(BENCH_ROOT, 'exec'),
      '--pidfile', pidfile,
      '--iptables=false',
      '--ip-masq=false',
      '--ip-forward=false',
      '--bridge=none',
      '--insecure-registry', REGISTRY_HOST,
      '--log-level', 'warn',
    ],
    log,
  );
  const env = dockerEnv();
  try {
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw Object.assign(new Error(`dockerd exited with ${child.exitCode}`), { fatal: true });
        await run('/usr/bin/docker', ['info', '--format', '{{.ServerVersion}}'], { env, timeoutMs: 10_000 });
        return true;
      },
      60_000,
      'the private dockerd',
    );
  } catch (err) {
    await stopDaemon(child);
    throw new Error(`dockerd did not start (${err.message}):\n${await tailOf(log)}`);
  }
  // dockerd's own pid (not a wrapper): BuildKit runs inside it.
  const pid = Number((await readFile(pidfile, 'utf8')).trim()) || child.pid;
  return { pid, stop: () => stopDaemon(child, 30_000) };
}
