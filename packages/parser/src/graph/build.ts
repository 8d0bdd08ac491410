/**
 * Typed instructions → build graph, following BuildKit's `dockerfile2llb.toDispatchState`:
 * global ARGs and platform ARGs, FROM expansion, stage lookup, COPY --from / RUN --mount edges,
 * cycle check, target pruning, ONBUILD triggers, then a dispatch pass that expands words with
 * the stage's env exactly where BuildKit does and records what each step sees.
 */
import type { SourceLocation } from '@build-image/errors';
import { DockerfileSyntaxError, ShellExpansionError, type DockerfileErrorCode } from '../errors.js';
import { parseChmod, ChmodError } from '../instructions/chmod.js';
import { MountError, resolveMount } from '../instructions/mount.js';
import { parseInstruction, parseInstructions } from '../instructions/parse.js';
import { withSuggestion } from '../instructions/suggest.js';
import type { ArgInstruction, FromInstruction, Instruction } from '../instructions/types.js';
import { formatPlatform, formatPlatformAll, parsePlatform, type Platform } from '../platform.js';
import { ShellLex } from '../shell/index.js';
import { parseDockerfile } from '../syntax/index.js';
import type { SyntaxTree } from '../syntax/types.js';
import { EnvList, envFromStrings } from './env.js';
import { parsePorts, PortError } from './ports.js';
import { normalizeImageReference, ReferenceFormatError } from './reference.js';
import { parseSignal, SignalError } from './signal.js';
import type { BaseImage, BuildGraph, BuildGraphOptions, GraphMount, GraphStage, ResolvedPlatform, StageBase, Step, StepSource } from './types.js';

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const PROXY_ARGS = ['HTTP_PROXY', 'HTTPS_PROXY', 'FTP_PROXY', 'NO_PROXY', 'ALL_PROXY'];
const NON_ENV_ARGS = new Set(['BUILDKIT_SBOM_SCAN_CONTEXT', 'BUILDKIT_SBOM_SCAN_STAGE']);

type Located = { location: SourceLocation };

function fail(code: DockerfileErrorCode, message: string, at: Located | SourceLocation | undefined, data: Record<string, unknown> = {}): DockerfileSyntaxError {
  const location = at && 'location' in at ? at.location : (at as SourceLocation | undefined);
  return new DockerfileSyntaxError(code, message, location, { data });
}

/** Runs `fn`, turning the lexer's and validators' errors into located DockerfileSyntaxErrors. */
function located<T>(at: Located | SourceLocation, fn: () => T, prefix = ''): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof DockerfileSyntaxError) {
      if (e.location) throw e;
      throw fail(e.code, e.message.replace(/^[^:]*:\d+:\d+: /, ''), at, e.data);
    }
    if (e instanceof ShellExpansionError) throw fail('E_EXPANSION', prefix + e.message, at);
    if (e instanceof MountError || e instanceof ChmodError || e instanceof PortError || e instanceof SignalError) throw fail('E_FLAG', prefix + e.message, at);
    if (e instanceof ReferenceFormatError) throw fail('E_REFERENCE', prefix + e.message, at);
    if (e instanceof Error && (e.name === 'ShellExpansionError' || (e as { code?: string }).code === 'E_EXPANSION')) throw fail('E_EXPANSION', prefix + e.message, at);
    throw e;
  }
}

function resolved(p: Platform): ResolvedPlatform {
  return { ...p, string: formatPlatform(p) };
}

interface Command {
  instruction: Instruction;
  onbuild: boolean;
  /** COPY --from source / RUN mount sources, resolved once (BuildKit's toCommand). */
  sources: Array<Source | undefined>;
}

type Source = { kind: 'stage'; state: State } | { kind: 'image'; ref: string; normalizedRef: string } | { kind: 'scratch' };

interface State {
  index: number;
  name?: string;
  displayName: string;
  from: FromInstruction;
  baseName: string;
  base?: State;
  platform?: Platform;
  commands: Command[];
  stageDeps: Map<State, Located>;
  imageDeps: Set<string>;
  dispatched: boolean;
  onBuildInit: boolean;
  // dispatch state
  stateEnv: EnvList;
  imageEnv: EnvList;
  workdir: string;
  user: string;
  shell: string[] | undefined;
  os: string;
  buildArgs: Array<{ key: string; value?: string }>;
  onBuildExpressions: string[];
  steps: Step[];
}

interface Context {
  tree: SyntaxTree;
  file: string;
  lex: ShellLex;
  globalArgs: EnvList;
  buildArgs: Record<string, string>;
  imageConfigs: NonNullable<BuildGraphOptions['imageConfigs']>;
  states: State[];
  byName: Map<string, State>;
  target: Platform;
  build: Platform;
  declaredArgs: Set<string>;
  metaArgNames: string[];
}

function toTree(dockerfile: string | SyntaxTree, file: string | undefined): SyntaxTree {
  if (typeof dockerfile !== 'string') return file && file !== dockerfile.file ? { ...dockerfile, file } : dockerfile;
  return parseDockerfile(dockerfile, { file: file ?? 'Dockerfile' });
}

function splitStages(instructions: Instruction[]): { metaArgs: ArgInstruction[]; stages: Array<{ from: FromInstruction; commands: Instruction[] }> } {
  const metaArgs: ArgInstruction[] = [];
  const stages: Array<{ from: FromInstruction; commands: Instruction[] }> = [];
  for (const ins of instructions) {
    if (ins.kind === 'FROM') {
      stages.push({ from: ins, commands: [] });
      continue;
    }
    const current = stages[stages.length - 1];
    if (!current) {
      if (ins.kind === 'ARG') {
        metaArgs.push(ins);
        continue;
      }
      throw fail('E_NO_FROM', `no build stage in current context: ${ins.kind} comes before the first FROM; only ARG may appear before FROM`, ins);
    }
    current.commands.push(ins);
  }
  return { metaArgs, stages };
}

function platforms(options: BuildGraphOptions): { target: Platform; build: Platform } {
  const parse = (s: string, d?: Platform) => parsePlatform(s, d);
  if (options.buildPlatform) {
    const build = parse(options.buildPlatform);
    return { build, target: options.platform ? parse(options.platform, build) : build };
  }
  if (options.platform) {
    const target = parse(options.platform);
    return { build: target, target };
  }
  const p = { os: 'linux', architecture: 'amd64' };
  return { build: p, target: p };
}

function defaultArgs(target: Platform, build: Platform, overrides: Record<string, string>, targetStage: string): EnvList {
  const pairs: Array<[string, string]> = [
    ['BUILDPLATFORM', formatPlatform(build)],
    ['BUILDOS', build.os],
    ['BUILDOSVERSION', build.osVersion ?? ''],
    ['BUILDARCH', build.architecture],
    ['BUILDVARIANT', build.variant ?? ''],
    ['TARGETPLATFORM', formatPlatformAll(target)],
    ['TARGETOS', target.os],
    ['TARGETOSVERSION', target.osVersion ?? ''],
    ['TARGETARCH', target.architecture],
    ['TARGETVARIANT', target.variant ?? ''],
    ['TARGETSTAGE', targetStage || 'default'],
  ];
  let env = EnvList.empty();
  for (const [k, v] of pairs) env = env.addOrReplace(k, Object.hasOwn(overrides, k) ? overrides[k]! : v);
  return env;
}

function expandWord(ctx: Context, word: string, env: EnvList, used?: Set<string>): string {
  const r = ctx.lex.processWordWithMatches(word, env.toMap());
  if (used) for (const k of r.matched) used.add(k);
  return r.result;
}

function imageSource(ref: string): Source {
  return { kind: 'image', ref, normalizedRef: normalizeImageReference(ref) };
}

/** BuildKit's toCommand: resolve COPY --from and RUN --mount from= to stages or images. */
function toCommand(ctx: Context, ins: Instruction, onbuild: boolean): Command {
  const cmd: Command = { instruction: ins, onbuild, sources: [] };
  if (ins.kind === 'COPY' && ins.from !== undefined) {
    const from = ins.from;
    const res = located(ins, () => ctx.lex.processWord(from, new Map()));
    if (res !== from) {
      throw fail('E_FLAG', 'variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround', ins);
    }
    let source: Source;
    if (/^[+-]?[0-9]+$/.test(from)) {
      const index = Number(from);
      const st = ctx.states[index];
      if (!st || index < 0) throw fail('E_UNKNOWN_STAGE', `invalid stage index ${index}: COPY --from=<n> must name an earlier stage by its 0-based position`, ins);
      source = { kind: 'stage', state: st };
    } else {
      const st = ctx.byName.get(from.toLowerCase());
      source = st ? { kind: 'stage', state: st } : located(ins, () => imageSource(from), `failed to parse --from image "${from}": `);
    }
    cmd.sources = [source];
  }
  if (ins.kind === 'RUN') {
    cmd.sources = ins.mounts.map((m) => {
      const from = m.fields.filter((f) => f.key === 'from' && f.value !== undefined).pop()?.value ?? '';
      if (from === '' || from === 'scratch') {
        const st = ctx.byName.get('scratch');
        return st ? { kind: 'stage', state: st } : from === '' ? undefined : { kind: 'scratch' };
      }
      const st = ctx.byName.get(from.toLowerCase());
      if (st) return { kind: 'stage', state: st };
      return located(ins, () => imageSource(from), `failed to parse mount from "${from}": `);
    });
  }
  return cmd;
}

function addDeps(state: State, cmd: Command): void {
  for (const s of cmd.sources) {
    if (s?.kind === 'stage') state.stageDeps.set(s.state, cmd.instruction);
    else if (s?.kind === 'image') state.imageDeps.add(s.ref);
  }
}

function checkCycles(states: State[]): void {
  const visited = new Set<State>();
  const path = new Set<State>();
  const visit = (s: State, trail: Located[]): Located[] | undefined => {
    if (visited.has(s)) return undefined;
    visited.add(s);
    path.add(s);
    for (const [dep, at] of s.stageDeps) {
      const next = [...trail, at];
      if (path.has(dep)) return next;
      const found = visit(dep, next);
      if (found) return found;
    }
    path.delete(s);
    return undefined;
  };
  for (const s of states) {
    const trail = visit(s, []);
    if (trail) {
      throw fail('E_CYCLE', `circular dependency detected on stage: ${s.displayName}; a stage cannot copy or mount from itself or from a stage that depends on it`, trail[trail.length - 1]!, {
        stage: s.index,
      });
    }
  }
}

function reachable(target: State): Set<State> {
  const out = new Set<State>();
  const add = (s: State) => {
    if (out.has(s)) return;
    out.add(s);
    if (s.base) add(s.base);
    for (const d of s.stageDeps.keys()) add(d);
  };
  add(target);
  return out;
}

/** Parses ONBUILD trigger expressions into commands placed before the stage's own (BuildKit initOnBuildTriggers). */
function initOnBuild(ctx: Context, st: State, triggers: string[]): boolean {
  let newDeps = false;
  const cmds: Command[] = [];
  for (const trigger of triggers) {
    const ins = located(st.from, () => {
      const tree = parseDockerfile(trigger, { file: ctx.file });
      if (tree.children.length !== 1) throw fail('E_ARGUMENTS', 'onbuild trigger should be a single expression', st.from);
      const node = tree.children[0]!;
      const r = st.from.location;
      const parsed = parseInstruction({ ...node, range: { startLine: r.line, startColumn: r.column, endLine: r.endLine, endColumn: r.endColumn } }, ctx.file);
      if (parsed.kind === 'FROM') throw fail('E_ARGUMENTS', 'FROM is not a command type: it cannot be an ONBUILD trigger', st.from);
      return parsed;
    }, 'ONBUILD trigger: ');
    const cmd = toCommand(ctx, ins, true);
    if (cmd.sources.some((s) => s?.kind === 'stage')) newDeps = true;
    addDeps(st, cmd);
    cmds.push(cmd);
  }
  st.commands = [...cmds, ...st.commands];
  return newDeps;
}

function normalizeWorkdir(current: string, requested: string): string {
  const join = (...parts: string[]) => {
    const segs: string[] = [];
    for (const seg of parts.join('/').split('/')) {
      if (seg === '' || seg === '.') continue;
      if (seg === '..') segs.pop();
      else segs.push(seg);
    }
    return `/${segs.join('/')}`;
  };
  const parent = current === '' ? '/' : current;
  if (requested === '') return join(parent);
  return requested.startsWith('/') ? join(requested) : join(parent, requested);
}

function defaultShell(os: string): string[] {
  return os === 'windows' ? ['cmd', '/S', '/C'] : ['/bin/sh', '-c'];
}

function initState(ctx: Context, st: State): void {
  if (st.base) {
    const b = st.base;
    st.stateEnv = b.stateEnv;
    st.imageEnv = b.imageEnv;
    st.workdir = b.workdir;
    st.user = b.user;
    st.shell = b.shell;
    st.platform = b.platform;
    st.os = b.os;
    st.buildArgs = [...b.buildArgs];
  } else if (st.baseName !== 'scratch') {
    const cfg = ctx.imageConfigs[st.baseName] ?? {};
    st.imageEnv = EnvList.fromPairs(envFromStrings(cfg.env ?? []));
    st.stateEnv = EnvList.empty();
    if (cfg.workingDir) st.workdir = normalizeWorkdir('', cfg.workingDir);
    if (cfg.user) st.user = cfg.user;
    if (cfg.shell && cfg.shell.length) st.shell = [...cfg.shell];
  }
  st.platform ??= ctx.target;
  st.os = st.platform.os;
  if (!st.imageEnv.has('PATH') && st.os !== 'windows') st.imageEnv = st.imageEnv.setInPlace('PATH', DEFAULT_PATH);
  for (const [k, v] of st.imageEnv.toPairs()) st.stateEnv = st.stateEnv.addOrReplace(k, v);
}

function sourceOf(s: Source | undefined, fallback: StepSource): StepSource {
  if (!s) return fallback;
  if (s.kind === 'stage') return { kind: 'stage', index: s.state.index };
  return s;
}

function argsView(st: State): Array<[string, string]> {
  const order: string[] = [];
  const values = new Map<string, string>();
  for (const a of st.buildArgs) {
    if (!values.has(a.key)) order.push(a.key);
    values.set(a.key, st.stateEnv.get(a.key) ?? a.value ?? '');
  }
  return order.map((k) => [k, values.get(k)!]);
}

function dispatch(ctx: Context, st: State, cmd: Command, stepIndex: number): Step {
  const ins = cmd.instruction;
  const used = new Set<string>();
  const env = st.stateEnv;
  const ex = (w: string) => expandWord(ctx, w, env, used);
  const extra: Partial<Step> = {};
  let out: Instruction = ins;
  located(ins, () => {
    switch (ins.kind) {
      case 'ENV': {
        const kvs = ins.env.map((kv) => ({ ...kv, key: ex(kv.key), value: ex(kv.value) }));
        for (const kv of kvs) {
          st.stateEnv = st.stateEnv.addOrReplace(kv.key, kv.value);
          st.imageEnv = st.imageEnv.setInPlace(kv.key, kv.value);
        }
        out = { ...ins, env: kvs };
        break;
      }
      case 'LABEL':
        out = { ...ins, labels: ins.labels.map((kv) => ({ ...kv, key: ex(kv.key), value: ex(kv.value) })) };
        break;
      case 'ADD':
      case 'COPY': {
        const chown = ins.chown !== undefined ? ex(ins.chown) : undefined;
        const chmod = ins.chmod !== undefined ? ex(ins.chmod) : undefined;
        const checksum = ins.kind === 'ADD' && ins.checksum !== undefined ? ex(ins.checksum) : undefined;
        const sources = ins.sources.map(ex);
        const dest = ex(ins.dest);
        const raw = new ShellLex('\\', { skipProcessQuotes: true });
        const heredocSources = ins.heredocSources.map((h) => {
          if (!h.expand) return h;
          const r = raw.processWordWithMatches(h.data, env.toMap());
          for (const k of r.matched) used.add(k);
          return { ...h, data: r.result };
        });
        const next = { ...ins, sources, dest, heredocSources } as typeof ins;
        if (chown) next.chown = chown;
        else delete next.chown;
        if (chmod) {
          next.chmod = chmod;
          extra.chmod = parseChmod(chmod);
        } else delete next.chmod;
        if (next.kind === 'ADD') {
          if (checksum) next.checksum = checksum;
          else delete next.checksum;
          if (checksum !== undefined && checksum !== '' && sources.length !== 1) throw fail('E_FLAG', 'checksum can\'t be specified for multiple sources', ins);
        }
        extra.source = ins.kind === 'COPY' ? sourceOf(cmd.sources[0], { kind: 'context' }) : { kind: 'context' };
        if (ins.kind === 'COPY' && cmd.sources[0]?.kind === 'stage' && !cmd.sources[0].state.dispatched) {
          throw fail('E_UNKNOWN_STAGE', `cannot copy from stage "${ins.from}", it needs to be defined before current stage "${st.displayName}"`, ins);
        }
        out = next;
        break;
      }
      case 'WORKDIR': {
        const p = ex(ins.path);
        st.workdir = normalizeWorkdir(st.workdir, p);
        out = { ...ins, path: p };
        break;
      }
      case 'USER': {
        const u = ex(ins.user);
        st.user = u;
        out = { ...ins, user: u };
        break;
      }
      case 'VOLUME': {
        const volumes = ins.volumes.map(ex);
        if (volumes.some((v) => v === '')) throw fail('E_ARGUMENTS', 'VOLUME specified can not be an empty string', ins);
        out = { ...ins, volumes };
        break;
      }
      case 'STOPSIGNAL': {
        const signal = ex(ins.signal);
        parseSignal(signal);
        out = { ...ins, signal };
        break;
      }
      case 'EXPOSE': {
        const ports: string[] = [];
        for (const p of ins.ports) {
          const r = ctx.lex.processWords(p, env.toMap());
          ports.push(...r);
          // processWords has no match set: record names referenced and set.
          for (const m of p.matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)) if (env.has(m[1]!)) used.add(m[1]!);
        }
        extra.exposedPorts = parsePorts(ports);
        out = { ...ins, ports };
        break;
      }
      case 'ARG': {
        const args = ins.args.map((a) => {
          ctx.declaredArgs.add(a.key);
          let value = a.value;
          const hasValue = Object.hasOwn(ctx.buildArgs, a.key);
          if (value === undefined && !hasValue) {
            const g = ctx.globalArgs.get(a.key);
            if (g !== undefined) value = g;
          }
          if (hasValue) value = ctx.buildArgs[a.key]!;
          else if (a.value !== undefined) value = expandWord(ctx, a.value, st.stateEnv, used);
          if (value !== undefined && !NON_ENV_ARGS.has(a.key)) st.stateEnv = st.stateEnv.addOrReplace(a.key, value);
          const def = value === undefined ? { key: a.key } : { key: a.key, value };
          st.buildArgs.push(def);
          used.add(a.key);
          return def;
        });
        out = { ...ins, args };
        break;
      }
      case 'SHELL':
        st.shell = [...ins.shell];
        break;
      case 'ONBUILD':
        st.onBuildExpressions.push(ins.expression);
        break;
      case 'RUN': {
        const mounts: GraphMount[] = ins.mounts.map((spec, i) => {
          const m = resolveMount(spec, ex);
          const src = cmd.sources[i];
          if (src?.kind === 'stage' && !src.state.dispatched) {
            throw fail('E_UNKNOWN_STAGE', `cannot mount from stage "${m.from}" to "${m.target}", stage needs to be defined before current command`, ins);
          }
          let target = m.target;
          // Secret and ssh mounts pick their own default target (/run/secrets/<id>, the agent socket).
          if (m.type !== 'secret' && m.type !== 'ssh') {
            if (!target.startsWith('/')) target = normalizeWorkdir(st.workdir, target);
            if (normalizeWorkdir('/', target) === '/') throw fail('E_FLAG', `invalid mount target "${target}"`, ins);
          }
          const fallback: StepSource = m.type === 'bind' ? { kind: 'context' } : m.type === 'cache' || m.type === 'tmpfs' ? { kind: 'scratch' } : { kind: 'context' };
          return { ...m, target, sourceRef: sourceOf(src, fallback) };
        });
        extra.mounts = mounts;
        extra.runEnv = st.stateEnv.toPairs();
        const proxy: Array<[string, string]> = Object.keys(ctx.buildArgs)
          .sort()
          .filter((k) => PROXY_ARGS.includes(k.toUpperCase()))
          .map((k) => [k, ctx.buildArgs[k]!]);
        if (proxy.length) extra.proxyEnv = proxy;
        for (const a of st.buildArgs) used.add(a.key);
        break;
      }
      default:
        break;
    }
  });
  const declared = new Set(st.buildArgs.map((a) => a.key));
  return {
    index: stepIndex,
    kind: ins.kind,
    instruction: out,
    location: ins.location,
    text: ins.text,
    onbuild: cmd.onbuild,
    env: st.imageEnv.toPairs(),
    args: argsView(st),
    usedArgs: [...used].filter((k) => declared.has(k)).sort(),
    workdir: st.workdir,
    user: st.user,
    shell: st.shell ?? defaultShell(st.os),
    ...extra,
  };
}

interface Prepared {
  ctx: Context;
  metaArgs: ArgInstruction[];
  targetState: State;
}

function prepare(dockerfile: string | SyntaxTree, options: BuildGraphOptions, stopAfterFrom = false): Prepared {
  const tree = toTree(dockerfile, options.file);
  const file = tree.file;
  const instructions = parseInstructions(tree);
  const { metaArgs, stages } = splitStages(instructions);
  if (stages.length === 0) throw fail('E_NO_FROM', 'dockerfile contains no stages to build: add a FROM instruction', undefined);

  const seen = new Map<string, FromInstruction>();
  for (const s of stages) {
    if (!s.from.stageName) continue;
    const prev = seen.get(s.from.stageName);
    if (prev) {
      throw fail('E_DUPLICATE_STAGE', `duplicate stage name "${s.from.stageName}" (first defined at line ${prev.location.line}); stage names are case-insensitive and must be unique`, s.from);
    }
    seen.set(s.from.stageName, s.from);
  }

  const { target, build } = platforms(options);
  const buildArgs = options.buildArgs ?? {};
  const targetName = options.target ?? stages[stages.length - 1]!.from.stageName ?? '';
  const lex = new ShellLex(tree.escapeToken);
  let globalArgs = defaultArgs(target, build, buildArgs, targetName);
  const declaredArgs = new Set<string>();
  for (const cmd of metaArgs) {
    for (const a of cmd.args) {
      declaredArgs.add(a.key);
      let value: string | undefined;
      if (Object.hasOwn(buildArgs, a.key)) value = buildArgs[a.key]!;
      else if (a.value !== undefined) {
        const v = a.value;
        const env = globalArgs;
        value = located(cmd, () => lex.processWordWithMatches(v, env.toMap()).result);
      }
      if (value !== undefined) globalArgs = globalArgs.addOrReplace(a.key, value);
    }
  }
  const ctx: Context = {
    tree, file, lex, globalArgs, buildArgs, imageConfigs: options.imageConfigs ?? {}, states: [], byName: new Map(), target, build, declaredArgs,
    metaArgNames: metaArgs.flatMap((c) => c.args.map((a) => a.key)),
  };

  stages.forEach((s, index) => {
    const from = s.from;
    const baseName = located(from, () => lex.processWordWithMatches(from.image, globalArgs.toMap()).result);
    if (baseName === '') throw fail('E_ARGUMENTS', `base name (${from.image}) should not be blank; set the ARG it uses before the first FROM or pass --build-arg`, from);
    let platform: Platform | undefined;
    if (from.platform !== undefined) {
      const raw = from.platform;
      const p = located(from, () => lex.processWordWithMatches(raw, globalArgs.toMap()).result);
      if (p === '') throw fail('E_PLATFORM', `empty platform value from expression ${raw}`, from);
      platform = located(from, () => parsePlatform(p, build), `failed to parse platform ${raw}: `);
    }
    const st: State = {
      index,
      ...(from.stageName ? { name: from.stageName } : {}),
      displayName: from.stageName ?? `stage-${index}`,
      from,
      baseName,
      ...(platform ? { platform } : {}),
      commands: [],
      stageDeps: new Map(),
      imageDeps: new Set(),
      dispatched: false,
      onBuildInit: false,
      stateEnv: EnvList.empty(),
      imageEnv: EnvList.empty(),
      workdir: '',
      user: '',
      shell: undefined,
      os: (platform ?? target).os,
      buildArgs: [],
      onBuildExpressions: [],
      steps: [],
    };
    // BuildKit looks the base up by its exact expanded text among the (lowercased) names defined so far.
    const base = ctx.byName.get(baseName);
    if (base) st.base = base;
    else if (baseName !== 'scratch') located(from, () => normalizeImageReference(baseName), `failed to parse stage name "${baseName}": `);
    ctx.states.push(st);
    if (st.name) ctx.byName.set(st.name, st);
    st.commands = s.commands.map((ins) => ({ instruction: ins, onbuild: false, sources: [] }));
  });

  let targetState: State;
  if (options.target) {
    const t = ctx.byName.get(options.target.toLowerCase());
    if (!t) {
      const names = ctx.states.flatMap((s) => (s.name ? [s.name] : []));
      throw fail('E_TARGET', `${withSuggestion(`target stage "${options.target}" could not be found`, options.target, names)}; stages: ${names.join(', ') || '(none named)'}`, undefined, { target: options.target });
    }
    targetState = t;
  } else {
    targetState = ctx.states[ctx.states.length - 1]!;
  }
  if (stopAfterFrom) return { ctx, metaArgs, targetState };

  for (const st of ctx.states) {
    st.commands = st.commands.map((c) => {
      const cmd = toCommand(ctx, c.instruction, false);
      addDeps(st, cmd);
      return cmd;
    });
  }
  checkCycles(ctx.states);
  return { ctx, metaArgs, targetState };
}

/**
 * Builds the instruction graph for a Dockerfile with the given build args, target and platform.
 * Throws {@link DockerfileSyntaxError} (with a code and location) for anything BuildKit rejects.
 *
 * @example
 * const g = createBuildGraph('FROM alpine AS a\nRUN echo\nFROM a\n', { buildPlatform: 'linux/amd64' });
 * g.stages.map((s) => s.base) // [{ kind: 'image', ref: 'alpine', ... }, { kind: 'stage', index: 0 }]
 */
export function createBuildGraph(dockerfile: string | SyntaxTree, options: BuildGraphOptions = {}): BuildGraph {
  const { ctx, targetState } = prepare(dockerfile, options);

  let all: Set<State>;
  for (;;) {
    all = reachable(targetState);
    let newDeps = false;
    for (const st of ctx.states) {
      if (!all.has(st) || st.onBuildInit) continue;
      st.onBuildInit = true;
      const triggers = st.base
        ? st.base.commands.flatMap((c) => (c.instruction.kind === 'ONBUILD' && !c.onbuild ? [c.instruction.expression] : []))
        : st.baseName !== 'scratch'
          ? [...(ctx.imageConfigs[st.baseName]?.onBuild ?? [])]
          : [];
      if (triggers.length && initOnBuild(ctx, st, triggers)) newDeps = true;
    }
    if (!newDeps) break;
  }
  checkCycles(ctx.states);

  for (const st of ctx.states) {
    if (!all.has(st)) continue;
    initState(ctx, st);
    st.steps = st.commands.map((cmd, i) => dispatch(ctx, st, cmd, i));
    st.dispatched = true;
  }

  const stages: GraphStage[] = ctx.states
    .filter((s) => all.has(s))
    .map((s) => {
      const base: StageBase = s.base
        ? { kind: 'stage', index: s.base.index }
        : s.baseName === 'scratch'
          ? { kind: 'scratch' }
          : { kind: 'image', ref: s.baseName, normalizedRef: normalizeImageReference(s.baseName) };
      const deps = new Set<number>([...(s.base ? [s.base.index] : []), ...[...s.stageDeps.keys()].map((d) => d.index)]);
      return {
        index: s.index,
        ...(s.name ? { name: s.name } : {}),
        base,
        platform: resolved(s.platform ?? ctx.target),
        steps: s.steps,
        dependsOn: [...deps].sort((a, b) => a - b),
        imageDependencies: [...s.imageDeps].sort(),
        location: s.from.location,
        text: s.from.text,
      };
    });

  const predefined = new Set([
    ...PROXY_ARGS, ...PROXY_ARGS.map((k) => k.toLowerCase()),
    'BUILDPLATFORM', 'BUILDOS', 'BUILDOSVERSION', 'BUILDARCH', 'BUILDVARIANT', 'TARGETPLATFORM', 'TARGETOS', 'TARGETOSVERSION', 'TARGETARCH', 'TARGETVARIANT', 'TARGETSTAGE', 'SOURCE_DATE_EPOCH',
  ]);
  const unusedBuildArgs = Object.keys(ctx.buildArgs)
    .filter((k) => !ctx.declaredArgs.has(k) && !predefined.has(k) && !k.startsWith('BUILDKIT_'))
    .sort();

  return {
    stages,
    target: targetState.index,
    globalArgs: ctx.globalArgs.toPairs().filter(([k]) => ctx.metaArgNames.includes(k)),
    platform: { target: resolved(ctx.target), build: resolved(ctx.build) },
    unusedBuildArgs,
    file: ctx.file,
  };
}

/**
 * The image references the FROM lines name (expanded with global ARGs only), so the caller can
 * fetch their configs and pass them back as `imageConfigs`. Stages built on other stages and
 * `scratch` are left out.
 *
 * @example listBaseImages('ARG V=3\nFROM alpine:$V\n') // [{ ref: 'alpine:3', normalizedRef: 'docker.io/library/alpine:3', stage: 0 }]
 */
export function listBaseImages(dockerfile: string | SyntaxTree, options: BuildGraphOptions = {}): BaseImage[] {
  const { ctx } = prepare(dockerfile, { ...options, target: undefined }, true);
  return ctx.states
    .filter((s) => !s.base && s.baseName !== 'scratch')
    .map((s) => ({
      ref: s.baseName,
      normalizedRef: normalizeImageReference(s.baseName),
      ...(s.platform ? { platform: formatPlatform(s.platform) } : {}),
      stage: s.index,
    }));
}
