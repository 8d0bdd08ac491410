/**
 * The Action: inputs (docker/build-push-action's names and conventions) → `build()` → outputs
 * (`imageid`, `digest`, `metadata`, `cache-report`) and a job summary with the cache report.
 * Everything the runner provides comes in through `env`, so a test can run it in-process.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  build,
  buildMetadata,
  humanSize,
  parseAddHostSpec,
  parseBuildContextSpec,
  parseByteSize,
  parseCacheExportSpec,
  parseCacheImportSpec,
  parseOutputSpec,
  parseSshSpec,
  parseUlimitSpec,
  plainRenderer,
  type BuildOptions,
  type BuildResult,
  type ProgressEvent,
} from '@build-image/builder';
import { appendSummary, issue, setOutput } from './commands.js';
import { getBooleanInput, getInput, getInputList, InputError, type Env } from './inputs.js';

export interface ActionIO {
  /** The step log (the runner reads workflow commands from it). */
  write: (text: string) => void;
  /** The workspace (`GITHUB_WORKSPACE`, the step's working directory). */
  cwd: string;
}

/** Inputs that build-push-action has and this engine cannot honour: refused, never silently ignored. */
const UNSUPPORTED: Record<string, string> = {
  annotations: 'manifest annotations are not supported yet',
  attests: 'attestations are not supported yet',
  call: 'build checks (--call) are not supported yet',
  'cgroup-parent': 'the rootless executor does not take a cgroup parent',
  'no-cache-filters': 'use no-cache: true (per-stage no-cache is not supported yet)',
};

/** A temp file with a secret's value, readable by its owner only; removed after the build. */
async function secretFile(dir: string, id: string, value: string): Promise<string> {
  const file = path.join(dir, id.replace(/[^A-Za-z0-9_.-]/g, '_'));
  await writeFile(file, value, { mode: 0o600 });
  return file;
}

function keyValue(item: string, input: string): [string, string] {
  const eq = item.indexOf('=');
  if (eq <= 0) throw new InputError(`Input "${input}": "${item.split('\n')[0]}" is not KEY=VALUE`);
  return [item.slice(0, eq), item.slice(eq + 1)];
}

/** Reads the inputs into build options (and the temp dir holding secret values, to remove). */
export async function readInputs(env: Env, io: ActionIO): Promise<{ options: BuildOptions; cleanup: () => Promise<void> }> {
  for (const [name, why] of Object.entries(UNSUPPORTED)) {
    if (getInput(env, name) !== '') throw new InputError(`Input "${name}" is not supported by build-image: ${why}. Remove it from the step.`);
  }
  if (getBooleanInput(env, 'load')) throw new InputError('Input "load" needs a Docker daemon: use outputs: type=docker,dest=image.tar and `docker load -i image.tar`');
  for (const name of ['provenance', 'sbom']) {
    const v = getInput(env, name);
    if (v !== '' && v !== 'false') issue(io.write, 'notice', `Input "${name}" (${v}) is ignored: build-image does not produce attestations, so the image stays a single manifest (no index with unknown/unknown entries).`);
  }
  if (getInput(env, 'builder') !== '') issue(io.write, 'notice', 'Input "builder" is ignored: build-image runs in-process, without a buildx builder.');

  const contextInput = getInput(env, 'context') || '.';
  if (/^(https?:\/\/|git@|git:\/\/)/.test(contextInput) || contextInput.includes('{{defaultContext}}')) {
    throw new InputError(`Input "context" is a Git context (${contextInput}), which is not supported yet: check the repository out with actions/checkout and use a path (context: .)`);
  }
  const context = path.resolve(io.cwd, contextInput);
  const file = getInput(env, 'file');

  const platforms = getInputList(env, 'platforms');
  if (platforms.length > 1) {
    throw new InputError(
      `Input "platforms" lists ${platforms.length} platforms (${platforms.join(', ')}); build-image builds one platform per run. Use a matrix with one platform per job (on native runners, e.g. ubuntu-24.04-arm for linux/arm64).`,
    );
  }

  const buildArgs: Record<string, string> = {};
  for (const item of getInputList(env, 'build-args', { ignoreComma: true })) {
    const eq = item.indexOf('=');
    // `--build-arg NAME` without a value takes it from the environment, as docker does.
    if (eq < 0) {
      if (env[item] !== undefined) buildArgs[item] = env[item]!;
    } else buildArgs[item.slice(0, eq)] = item.slice(eq + 1);
  }
  const labels = Object.fromEntries(getInputList(env, 'labels', { ignoreComma: true }).map((l) => keyValue(l, 'labels')));

  const secretsDir = await mkdtemp(path.join(env.RUNNER_TEMP || os.tmpdir(), 'build-image-secrets-'));
  const cleanup = () => rm(secretsDir, { recursive: true, force: true });
  const secrets: NonNullable<BuildOptions['secrets']> = {};
  try {
    for (const item of getInputList(env, 'secrets', { ignoreComma: true })) {
      const [id, value] = keyValue(item, 'secrets');
      secrets[id] = { file: await secretFile(secretsDir, id, value) };
    }
    for (const item of getInputList(env, 'secret-files', { ignoreComma: true })) {
      const [id, file] = keyValue(item, 'secret-files');
      secrets[id] = { file: path.resolve(io.cwd, file) };
    }
    for (const item of getInputList(env, 'secret-envs')) {
      const [id, name] = keyValue(item, 'secret-envs');
      secrets[id] = { env: name };
    }
  } catch (e) {
    await cleanup();
    throw e;
  }

  const ssh: Record<string, string> = {};
  for (const s of getInputList(env, 'ssh').map(parseSshSpec)) {
    const socket = s.paths[0] ?? (s.id === 'default' ? env.SSH_AUTH_SOCK : undefined);
    if (!socket) throw new InputError(`Input "ssh": ${s.id} has no socket and SSH_AUTH_SOCK is not set (use webfactory/ssh-agent or give ID=PATH)`);
    ssh[s.id] = socket;
  }
  const network = getInput(env, 'network');
  if (network !== '' && !['host', 'none', 'default'].includes(network)) throw new InputError(`Input "network" is "${network}": use host, none or default`);
  const target = getInput(env, 'target');
  const shmSize = getInput(env, 'shm-size');
  const epoch = env.SOURCE_DATE_EPOCH;
  if (epoch !== undefined && epoch !== '' && !/^[0-9]+$/.test(epoch)) throw new InputError(`SOURCE_DATE_EPOCH "${epoch}" is not a number of seconds`);

  const options: BuildOptions = {
    context,
    ...(file ? { file: path.resolve(io.cwd, file) } : {}),
    tags: getInputList(env, 'tags'),
    buildArgs,
    labels,
    ...(target ? { target } : {}),
    ...(platforms[0] ? { platform: platforms[0] } : {}),
    outputs: getInputList(env, 'outputs', { ignoreComma: true, quote: false }).map(parseOutputSpec),
    push: getBooleanInput(env, 'push'),
    noCache: getBooleanInput(env, 'no-cache'),
    buildContexts: getInputList(env, 'build-contexts', { ignoreComma: true }).map(parseBuildContextSpec),
    cacheFrom: getInputList(env, 'cache-from', { ignoreComma: true }).map((v) => parseCacheImportSpec(v, env as NodeJS.ProcessEnv)),
    cacheTo: getInputList(env, 'cache-to', { ignoreComma: true }).map((v) => parseCacheExportSpec(v, env as NodeJS.ProcessEnv)),
    secrets,
    ssh,
    allow: getInputList(env, 'allow'),
    ...(network === 'host' || network === 'none' ? { network } : {}),
    addHosts: getInputList(env, 'add-hosts').map(parseAddHostSpec),
    ulimits: getInputList(env, 'ulimit', { ignoreComma: true }).map(parseUlimitSpec),
    ...(shmSize ? { shmSize: parseByteSize(shmSize, 'Input "shm-size"') } : {}),
    ...(epoch ? { sourceDateEpoch: Number(epoch) } : {}),
  };
  return { options, cleanup };
}

function mdEscape(s: string): string {
  return s.replace(/\|/g, '\\|').replace(/\n/g, ' ').replace(/`/g, "'");
}


/** The job summary: what was built, where it went, and the cache report with every miss's reason. */
export function summaryMarkdown(result: BuildResult, options: BuildOptions, durationMs: number): string {
  const tags = options.tags ?? [];
  const lines = [
    `### build-image${tags.length ? `: \`${mdEscape(tags.join(', '))}\`` : ''}`,
    '',
    '| | |',
    '|---|---|',
    `| Digest | \`${result.digest}\` |`,
    `| Image ID (config) | \`${result.configDigest}\` |`,
    `| Platform | ${result.config.os}/${result.config.architecture}${result.config.variant ? `/${result.config.variant}` : ''} |`,
    `| Size | ${humanSize(result.size)} (${result.config.rootfs?.diff_ids?.length ?? 0} layers) |`,
    `| Steps | ${result.cache.run} run, ${result.cache.cached} cached |`,
    `| Duration | ${(durationMs / 1000).toFixed(1)}s |`,
    ...result.outputs.map((o) => `| Output | ${o.type}: \`${mdEscape(o.destination)}\`${o.digest ? ` (\`${o.digest}\`)` : ''} |`),
    '',
  ];
  if (result.cache.misses.length) {
    lines.push('#### Cache misses', '', '| Step | Why it ran |', '|---|---|');
    for (const m of result.cache.misses) lines.push(`| \`${mdEscape(m.step)}\` | ${m.reasons.map(mdEscape).join('<br>')} |`);
    lines.push('');
  } else {
    lines.push(result.cache.run === 0 ? 'Every step came from the cache.' : '', '');
  }
  const warnings = (result as BuildResult & { warnings?: string[] }).warnings ?? [];
  if (warnings.length) lines.push('#### Warnings', '', ...warnings.map((w) => `- ${mdEscape(w)}`), '');
  return lines.join('\n') + '\n';
}

/**
 * Runs the Action and returns the process exit code (0 success, 1 failure; failures are also
 * reported as an `::error::` annotation).
 */
export async function runAction(env: Env, io: ActionIO): Promise<number> {
  const started = Date.now();
  let cleanup = async () => undefined as void;
  try {
    const inputs = await readInputs(env, io);
    cleanup = inputs.cleanup;
    const plain = plainRenderer(io.write);
    const onProgress = (e: ProgressEvent) => {
      plain(e);
      if (e.type === 'log' && e.level === 'warn') issue(io.write, 'warning', e.message);
    };
    const result = await build({ ...inputs.options, onProgress });
    const tags = inputs.options.tags ?? [];
    setOutput(env, io.write, 'imageid', result.configDigest);
    setOutput(env, io.write, 'digest', result.digest);
    setOutput(env, io.write, 'metadata', JSON.stringify(buildMetadata(result, tags), null, 2));
    setOutput(env, io.write, 'cache-report', JSON.stringify(result.cache));
    if (!/^(false|0)$/i.test(env.DOCKER_BUILD_SUMMARY ?? 'true')) appendSummary(env, summaryMarkdown(result, inputs.options, Date.now() - started));
    return 0;
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    issue(io.write, 'error', message);
    if (!/^(false|0)$/i.test(env.DOCKER_BUILD_SUMMARY ?? 'true')) appendSummary(env, `### build-image failed\n\n\`\`\`\n${message}\n\`\`\`\n`);
    return 1;
  } finally {
    await cleanup();
  }
}
