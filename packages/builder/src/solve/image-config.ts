/**
 * How each Dockerfile instruction changes the image config and its history, exactly as BuildKit's
 * dockerfile2llb does (dispatchEnv, dispatchCmd, ...): the same fields, the same `created_by`
 * texts, the same empty_layer flags. Pure functions over a cloned config.
 */
import path from 'node:path';
import type { ContainerConfig, HealthConfig, History, ImageConfig, Platform } from '../image/index.js';
import { goDuration, goList, goQuoteList } from './go-format.js';

/** BuildKit's history comment for steps of a Dockerfile build. */
export const HISTORY_COMMENT = 'buildkit.dockerfile.v0';
/** `system.DefaultPathEnv("linux")`. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const DEFAULT_SHELL = ['/bin/sh', '-c'];

/**
 * A deep copy of a config, so a stage never changes the config it started from.
 *
 * @example
 * ```ts
 * const mine = cloneConfig(base.config)
 * ```
 */
export function cloneConfig(img: ImageConfig): ImageConfig {
  return structuredClone(img);
}

/**
 * The config `FROM scratch` starts from (BuildKit `emptyImage`).
 *
 * @example
 * ```ts
 * emptyImageConfig({ os: 'linux', architecture: 'amd64', string: 'linux/amd64' }).config // { Env: ['PATH=/usr/local/sbin:…'], WorkingDir: '/' }
 * ```
 */
export function emptyImageConfig(platform: Platform): ImageConfig {
  return {
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant ? { variant: platform.variant } : {}),
    rootfs: { type: 'layers', diff_ids: [] },
    config: { Env: [`PATH=${DEFAULT_PATH}`], WorkingDir: '/' },
  };
}

/**
 * The config a stage starts from: the base image's with `created` dropped and ONBUILD triggers
 * consumed, and PATH guaranteed (BuildKit sets it when the base has none).
 *
 * @example
 * ```ts
 * const config = stageStartConfig(baseImage.config) // no `created`, no OnBuild, PATH set
 * ```
 */
export function stageStartConfig(base: ImageConfig): ImageConfig {
  const img = cloneConfig(base);
  delete img.created;
  img.config ??= {};
  delete img.config.OnBuild;
  img.history ??= [];
  img.config.Env ??= [];
  if (!img.config.Env.some((e) => e.startsWith('PATH=')) && img.os !== 'windows') img.config.Env.push(`PATH=${DEFAULT_PATH}`);
  return img;
}

/**
 * BuildKit `commitToHistory`: RUN, COPY and ADD add " # buildkit" (they carry an LLB state).
 *
 * @example
 * ```ts
 * addHistory(img, 'RUN make', { layer: true, buildkitSuffix: true, created: '2024-01-01T00:00:00Z' })
 * // history gets { created, created_by: 'RUN make # buildkit', comment: 'buildkit.dockerfile.v0' }
 * ```
 */
export function addHistory(img: ImageConfig, createdBy: string, options: { layer: boolean; buildkitSuffix?: boolean; created?: string }): void {
  const entry: History = {
    ...(options.created ? { created: options.created } : {}),
    created_by: options.buildkitSuffix ? `${createdBy} # buildkit` : createdBy,
    comment: HISTORY_COMMENT,
  };
  if (!options.layer) entry.empty_layer = true;
  (img.history ??= []).push(entry);
}

function cfg(img: ImageConfig): ContainerConfig {
  return (img.config ??= {});
}

/**
 * BuildKit `addEnv`: replaces the first entry with the same key in place, else appends.
 *
 * @example
 * ```ts
 * setEnv(['A=1', 'B=2'], 'A', '3') // ['A=3', 'B=2']
 * ```
 */
export function setEnv(env: string[], key: string, value: string): string[] {
  const i = env.findIndex((e) => (e.includes('=') ? e.slice(0, e.indexOf('=')) : e) === key);
  if (i >= 0) env[i] = `${key}=${value}`;
  else env.push(`${key}=${value}`);
  return env;
}

/**
 * The value of `key` in a `K=V` list (the first entry with that key), or undefined.
 *
 * @example
 * ```ts
 * getEnv(['A=1'], 'A') // '1'
 * ```
 */
export function getEnv(env: readonly string[] | undefined, key: string): string | undefined {
  for (const e of env ?? []) {
    const eq = e.indexOf('=');
    if ((eq < 0 ? e : e.slice(0, eq)) === key) return eq < 0 ? '' : e.slice(eq + 1);
  }
  return undefined;
}

/**
 * ENV: sets each pair in `config.Env` (BuildKit `addEnv`) and adds one history entry.
 *
 * @example
 * ```ts
 * applyEnv(img, [['NODE_ENV', 'production']]) // Env gets NODE_ENV=production; history: 'ENV NODE_ENV=production'
 * ```
 */
export function applyEnv(img: ImageConfig, pairs: ReadonlyArray<readonly [string, string]>): void {
  const c = cfg(img);
  c.Env ??= [];
  for (const [k, v] of pairs) setEnv(c.Env, k, v);
  addHistory(img, 'ENV' + pairs.map(([k, v]) => ` ${k}=${v}`).join(''), { layer: false });
}

/**
 * LABEL: merges the pairs into `config.Labels` and adds one history entry.
 *
 * @example
 * ```ts
 * applyLabel(img, [['org.opencontainers.image.title', 'app']]) // history: 'LABEL org.opencontainers.image.title=app'
 * ```
 */
export function applyLabel(img: ImageConfig, pairs: ReadonlyArray<readonly [string, string]>): void {
  const c = cfg(img);
  c.Labels ??= {};
  for (const [k, v] of pairs) c.Labels[k] = v;
  addHistory(img, 'LABEL' + pairs.map(([k, v]) => ` ${k}=${v}`).join(''), { layer: false });
}

/**
 * MAINTAINER: sets `author` and adds a history entry.
 *
 * @example
 * ```ts
 * applyMaintainer(img, 'me') // img.author === 'me'; history: 'MAINTAINER me'
 * ```
 */
export function applyMaintainer(img: ImageConfig, maintainer: string): void {
  img.author = maintainer;
  addHistory(img, `MAINTAINER ${maintainer}`, { layer: false });
}

/**
 * `ports` already parsed to `port/proto` form, in BuildKit's order.
 *
 * @example
 * ```ts
 * applyExpose(img, ['8080/tcp']) // ExposedPorts: { '8080/tcp': {} }; history: 'EXPOSE [8080/tcp]'
 * ```
 */
export function applyExpose(img: ImageConfig, ports: readonly string[]): void {
  const c = cfg(img);
  c.ExposedPorts ??= {};
  for (const p of ports) c.ExposedPorts[p] = {};
  addHistory(img, `EXPOSE ${goList(ports)}`, { layer: false });
}

/**
 * USER: sets `config.User` and adds a history entry.
 *
 * @example
 * ```ts
 * applyUser(img, 'app') // history: 'USER app'
 * ```
 */
export function applyUser(img: ImageConfig, user: string): void {
  cfg(img).User = user;
  addHistory(img, `USER ${user}`, { layer: false });
}

/**
 * `system.NormalizeWorkdir`: relative paths join the current one; the result is clean and absolute.
 *
 * @example
 * ```ts
 * normalizeWorkdir('/app', 'sub')        // '/app/sub'
 * normalizeWorkdir(undefined, '/x/../y') // '/y'
 * ```
 */
export function normalizeWorkdir(current: string | undefined, requested: string): string {
  const joined = requested.startsWith('/') ? requested : path.posix.join(current || '/', requested);
  return path.posix.normalize('/' + joined).replace(/(.)\/$/, '$1');
}

/**
 * Returns the new working directory; a layer (the mkdir) is made by the caller when it is not `/`.
 *
 * @example
 * ```ts
 * applyWorkdir(img, 'app') // '/app'; history: 'WORKDIR /app'
 * ```
 */
export function applyWorkdir(img: ImageConfig, requested: string): string {
  const wd = normalizeWorkdir(cfg(img).WorkingDir, requested);
  cfg(img).WorkingDir = wd;
  addHistory(img, `WORKDIR ${wd}`, { layer: wd !== '/' });
  return wd;
}

/**
 * BuildKit `withShell`: shell form runs through SHELL (default `/bin/sh -c`).
 *
 * @example
 * ```ts
 * withShell(img, 'make') // ['/bin/sh', '-c', 'make'] without a SHELL instruction
 * ```
 */
export function withShell(img: ImageConfig, script: string): string[] {
  const shell = img.config?.Shell?.length ? img.config.Shell : DEFAULT_SHELL;
  return [...shell, script];
}

/**
 * CMD: sets `config.Cmd` (already in exec form) and `ArgsEscaped`, as BuildKit does, and adds a history entry.
 *
 * @example
 * ```ts
 * applyCmd(img, ['node', 'server.js']) // history: 'CMD ["node" "server.js"]'
 * ```
 */
export function applyCmd(img: ImageConfig, args: string[]): void {
  const c = cfg(img);
  // `CMD []`: an empty slice, which `Cmd,omitempty` leaves out of BuildKit's JSON.
  if (args.length) c.Cmd = args;
  else delete c.Cmd;
  c.ArgsEscaped = true;
  addHistory(img, `CMD ${goQuoteList(args)}`, { layer: false });
}

/**
 * `cmdSetInStage`: whether CMD appeared earlier in this stage; if not, ENTRYPOINT resets an inherited CMD.
 *
 * @example
 * ```ts
 * applyEntrypoint(img, ['tini', '--'], false) // an inherited CMD is reset
 * ```
 */
export function applyEntrypoint(img: ImageConfig, args: string[], cmdSetInStage: boolean): void {
  const c = cfg(img);
  if (args.length) c.Entrypoint = args;
  else delete c.Entrypoint; // `ENTRYPOINT []`: omitted like an empty CMD
  // nil in BuildKit, and `Cmd,omitempty` drops it from the JSON (not `"Cmd": null`).
  if (!cmdSetInStage) delete c.Cmd;
  addHistory(img, `ENTRYPOINT ${goQuoteList(args)}`, { layer: false });
}

/**
 * HEALTHCHECK: sets `config.Healthcheck` and adds the history entry BuildKit writes (Go's `%+v` of the config).
 *
 * @example
 * ```ts
 * applyHealthcheck(img, { Test: ['NONE'] })
 * ```
 */
export function applyHealthcheck(img: ImageConfig, health: HealthConfig): void {
  const h: HealthConfig = {
    Test: health.Test ?? [],
    Interval: health.Interval ?? 0,
    Timeout: health.Timeout ?? 0,
    StartPeriod: health.StartPeriod ?? 0,
    StartInterval: health.StartInterval ?? 0,
    Retries: health.Retries ?? 0,
  };
  // The JSON has dockerspec's `omitempty` on every field: zero durations, retries and an empty
  // test are left out (the history text below still spells them all, as %+v does).
  const stored: HealthConfig = {};
  for (const [k, v] of Object.entries(h) as Array<[keyof HealthConfig, HealthConfig[keyof HealthConfig]]>) {
    if (Array.isArray(v) ? v.length > 0 : v !== 0) (stored as Record<string, unknown>)[k] = v;
  }
  cfg(img).Healthcheck = stored;
  // fmt %+v of dockerspec.HealthcheckConfig
  const text = `{Test:${goList(h.Test!)} Interval:${goDuration(h.Interval!)} Timeout:${goDuration(h.Timeout!)} StartPeriod:${goDuration(h.StartPeriod!)} StartInterval:${goDuration(h.StartInterval!)} Retries:${h.Retries}}`;
  addHistory(img, `HEALTHCHECK ${text}`, { layer: false });
}

/**
 * VOLUME: adds the paths to `config.Volumes` and a history entry.
 *
 * @example
 * ```ts
 * applyVolume(img, ['/data']) // Volumes: { '/data': {} }; history: 'VOLUME [/data]'
 * ```
 */
export function applyVolume(img: ImageConfig, volumes: readonly string[]): void {
  const c = cfg(img);
  c.Volumes ??= {};
  for (const v of volumes) c.Volumes[v] = {};
  addHistory(img, `VOLUME ${goList(volumes)}`, { layer: false });
}

/**
 * STOPSIGNAL: sets `config.StopSignal` and adds a history entry.
 *
 * @example
 * ```ts
 * applyStopSignal(img, 'SIGTERM')
 * ```
 */
export function applyStopSignal(img: ImageConfig, signal: string): void {
  cfg(img).StopSignal = signal;
  addHistory(img, `STOPSIGNAL ${signal}`, { layer: false });
}

/**
 * SHELL: sets `config.Shell` (used by later shell-form RUN, CMD and ENTRYPOINT) and adds a history entry.
 *
 * @example
 * ```ts
 * applyShell(img, ['/bin/bash', '-c']) // history: 'SHELL [/bin/bash -c]'
 * ```
 */
export function applyShell(img: ImageConfig, shell: string[]): void {
  cfg(img).Shell = shell;
  addHistory(img, `SHELL ${goList(shell)}`, { layer: false });
}

/**
 * ONBUILD records the trigger text; BuildKit adds no history entry for it.
 *
 * @example
 * ```ts
 * applyOnbuild(img, 'RUN echo') // config.OnBuild: ['RUN echo']
 * ```
 */
export function applyOnbuild(img: ImageConfig, expression: string): void {
  (cfg(img).OnBuild ??= []).push(expression);
}

/**
 * `ARG a=1 b`: history only ("ARG a=1 b"); the values reach RUN through the step environment.
 *
 * @example
 * ```ts
 * applyArg(img, [{ name: 'V', value: '1' }, { name: 'W' }]) // history: 'ARG V=1 W'
 * ```
 */
export function applyArg(img: ImageConfig, args: ReadonlyArray<{ name: string; value?: string | undefined }>): void {
  addHistory(img, 'ARG ' + args.map((a) => (a.value === undefined ? a.name : `${a.name}=${a.value}`)).join(' '), { layer: false });
}

/**
 * BuildKit `runCommandString`: `|N K=V ... <args>` lists every ARG declared in the stage, with the
 * value the RUN sees (an ENV of the same name wins), then the command.
 *
 * @example
 * ```ts
 * runCreatedBy(['/bin/sh', '-c', 'make'], [{ name: 'V', value: '1' }], ['V=1']) // 'RUN |1 V=1 /bin/sh -c make'
 * ```
 */
export function runCreatedBy(args: readonly string[], stageArgs: ReadonlyArray<{ name: string; value?: string | undefined }>, env: readonly string[]): string {
  const order: string[] = [];
  const values = new Map<string, string>();
  for (const a of stageArgs) {
    const v = getEnv(env, a.name) ?? a.value ?? '';
    if (!values.has(a.name)) order.push(a.name);
    values.set(a.name, v);
  }
  const prefix = order.length ? [`|${order.length}`, ...order.map((k) => `${k}=${values.get(k)}`)] : [];
  return 'RUN ' + [...prefix, ...args].join(' ');
}
