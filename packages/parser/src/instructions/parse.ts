/**
 * Syntax nodes → typed instructions, with BuildKit's checks (`instructions/parse.go`): argument
 * counts, flags per instruction, HEALTHCHECK durations, RUN network/security modes, mount CSV.
 * Nothing is expanded here.
 */
import type { SourceLocation } from '@build-image/errors';
import { DockerfileSyntaxError, type DockerfileErrorCode } from '../errors.js';
import type { Heredoc, SyntaxNode, SyntaxTree } from '../syntax/types.js';
import { parseGoDuration, DurationError } from './duration.js';
import { FlagError, FlagSet, type ParsedFlags } from './flags.js';
import { MountError, parseMountSpec } from './mount.js';
import { withSuggestion } from './suggest.js';
import type {
  AddInstruction,
  ArgDefinition,
  CommandLine,
  CopyInstruction,
  HealthConfig,
  HeredocSource,
  Instruction,
  KeyValue,
  MountSpec,
  NetworkMode,
  SecurityMode,
} from './types.js';

/** The 18 instruction keywords of the stable Dockerfile 1.x frontend, as BuildKit lists them. */
export const INSTRUCTION_NAMES = [
  'ADD', 'ARG', 'CMD', 'COPY', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'FROM', 'HEALTHCHECK', 'LABEL', 'MAINTAINER', 'ONBUILD',
  'RUN', 'SHELL', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR',
] as const;

const VALID_STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;
const HEREDOC_WORD = /^(\d*)<<(-?)\s*([^<]*)$/;

/** Converts a syntax range to the 1-based location every error and step carries. */
export function nodeLocation(node: SyntaxNode, file: string): SourceLocation {
  const r = node.range;
  return { file, line: r.startLine, column: r.startColumn, endLine: r.endLine, endColumn: r.endColumn };
}

/** Strips leading tabs from every line (`<<-` heredocs), as BuildKit's ChompHeredocContent. */
export function chompHeredocContent(content: string): string {
  return content.replace(/^\t+/gm, '');
}

/**
 * Recognises a heredoc word (`<<EOF`, `<<-"EOF"`, `3<<EOF`) and returns its name without quotes
 * and whether it strips tabs; undefined for any other word.
 */
export function parseHeredocWord(word: string): { name: string; chomp: boolean; expand: boolean } | undefined {
  const m = HEREDOC_WORD.exec(word);
  if (!m) return undefined;
  const rest = m[3] ?? '';
  if (rest === '' || /\s/.test(rest.trim())) return undefined;
  const name = rest.trim().replace(/\\(.)/g, '$1').replace(/["']/g, '');
  if (name === '') return undefined;
  return { name, chomp: m[2] === '-', expand: !/["']/.test(rest) };
}

class Req {
  readonly location: SourceLocation;
  readonly text: string;
  constructor(
    readonly node: SyntaxNode,
    readonly file: string,
  ) {
    this.location = nodeLocation(node, file);
    this.text = node.original.trim();
  }

  get args(): string[] {
    return this.node.args;
  }

  fail(code: DockerfileErrorCode, message: string): DockerfileSyntaxError {
    return new DockerfileSyntaxError(code, message, this.location, { data: { instruction: this.node.keyword.toUpperCase() } });
  }

  flags(set: FlagSet): ParsedFlags {
    try {
      return set.parse(this.node.flags);
    } catch (e) {
      if (e instanceof FlagError) throw this.fail('E_FLAG', `${this.node.keyword.toUpperCase()}: ${e.message}`);
      throw e;
    }
  }

  base() {
    return { location: this.location, text: this.text, keywordText: this.node.keywordText };
  }
}

const noFlags = () => new FlagSet();

function atLeastOne(req: Req, name: string): DockerfileSyntaxError {
  return req.fail('E_ARGUMENTS', `${name} requires at least one argument`);
}

function exactlyOne(req: Req, name: string): DockerfileSyntaxError {
  return req.fail('E_ARGUMENTS', `${name} requires exactly one argument`);
}

function commandLine(req: Req): CommandLine {
  if (req.node.json) return { form: 'exec', args: [...req.args] };
  return { form: 'shell', script: req.args.join(' ') };
}

function keyValues(req: Req, name: string): KeyValue[] {
  const args = req.args;
  if (args.length === 0) throw atLeastOne(req, name);
  if (args.length % 3 !== 0) throw req.fail('E_ARGUMENTS', `Bad input to ${name}, too many arguments`);
  const out: KeyValue[] = [];
  for (let i = 0; i < args.length; i += 3) {
    const key = args[i]!;
    if (key === '') throw req.fail('E_ARGUMENTS', `${name} names can not be blank`);
    out.push({ key, value: args[i + 1] ?? '', legacy: (args[i + 2] ?? '') === '' });
  }
  return out;
}

function sourcesAndDest(req: Req, name: 'COPY' | 'ADD') {
  const args = req.args;
  const dest = args[args.length - 1]!;
  if (parseHeredocWord(dest)) throw req.fail('E_ARGUMENTS', `${name} cannot accept a heredoc as a destination`);
  const byName = new Map<string, Heredoc>();
  for (const h of req.node.heredocs) byName.set(h.name, h);
  const sources: string[] = [];
  const heredocSources: HeredocSource[] = [];
  for (const src of args.slice(0, -1)) {
    const h = parseHeredocWord(src);
    if (h) {
      let data = byName.get(h.name)?.content ?? '';
      if (h.chomp) data = chompHeredocContent(data);
      heredocSources.push({ path: h.name, data, expand: byName.get(h.name)?.expand ?? h.expand });
    } else {
      sources.push(src);
    }
  }
  return { sources, heredocSources, dest };
}

function parseCopyOrAdd(req: Req, kind: 'COPY' | 'ADD'): CopyInstruction | AddInstruction {
  if (req.args.length < 2) {
    throw req.fail('E_ARGUMENTS', `${kind} requires at least two arguments, but only one was provided. Destination could not be determined`);
  }
  const set = new FlagSet().string('chown').string('chmod').bool('link').strings('exclude');
  if (kind === 'ADD') set.bool('keep-git-dir').string('checksum').bool('unpack');
  else set.string('from').bool('parents');
  const f = req.flags(set);
  const sd = sourcesAndDest(req, kind);
  const common = {
    ...req.base(),
    ...sd,
    ...(f.strings.get('chown') ? { chown: f.strings.get('chown')! } : {}),
    ...(f.strings.get('chmod') ? { chmod: f.strings.get('chmod')! } : {}),
    link: f.bools.get('link') ?? false,
    exclude: f.lists.get('exclude') ?? [],
  };
  if (kind === 'ADD') {
    return {
      kind: 'ADD',
      ...common,
      ...(f.bools.has('keep-git-dir') ? { keepGitDir: f.bools.get('keep-git-dir')! } : {}),
      ...(f.strings.get('checksum') ? { checksum: f.strings.get('checksum')! } : {}),
      ...(f.bools.has('unpack') ? { unpack: f.bools.get('unpack')! } : {}),
    };
  }
  return {
    kind: 'COPY',
    ...common,
    ...(f.strings.get('from') ? { from: f.strings.get('from')! } : {}),
    parents: f.bools.get('parents') ?? false,
  };
}

function optInterval(req: Req, name: string, value: string | undefined): number {
  if (value === undefined || value === '') return 0;
  let d: number;
  try {
    d = parseGoDuration(value);
  } catch (e) {
    if (e instanceof DurationError) throw req.fail('E_FLAG', `HEALTHCHECK --${name}: ${e.message}; use a Go duration such as 30s, 1m30s or 500ms`);
    throw e;
  }
  if (d === 0) return 0;
  if (d < 1e6) throw req.fail('E_FLAG', `Interval "${name}" cannot be less than 1ms`);
  return d;
}

function parseHealthcheck(req: Req): HealthConfig {
  if (req.args.length === 0) throw atLeastOne(req, 'HEALTHCHECK');
  const typ = req.args[0]!.toUpperCase();
  const rest = req.args.slice(1);
  if (typ === 'NONE') {
    if (rest.length !== 0) throw req.fail('E_ARGUMENTS', 'HEALTHCHECK NONE takes no arguments');
    // BuildKit does not look at flags for NONE.
    return { kind: 'none' };
  }
  const f = req.flags(new FlagSet().string('interval').string('timeout').string('start-period').string('start-interval').string('retries'));
  if (typ !== 'CMD') throw req.fail('E_ARGUMENTS', `Unknown type "${req.args[0]}" in HEALTHCHECK (try CMD)`);
  const command: CommandLine = req.node.json ? { form: 'exec', args: rest } : { form: 'shell', script: rest.join(' ') };
  const cmdSlice = req.node.json ? rest : [rest.join(' ')];
  if (cmdSlice.length === 0) throw req.fail('E_ARGUMENTS', 'Missing command after HEALTHCHECK CMD');
  const test = [req.node.json ? 'CMD' : 'CMD-SHELL', ...cmdSlice];
  const interval = optInterval(req, 'interval', f.strings.get('interval'));
  const timeout = optInterval(req, 'timeout', f.strings.get('timeout'));
  const startPeriod = optInterval(req, 'start-period', f.strings.get('start-period'));
  const startInterval = optInterval(req, 'start-interval', f.strings.get('start-interval'));
  let retries = 0;
  const r = f.strings.get('retries');
  if (r !== undefined && r !== '') {
    if (!/^[+-]?[0-9]+$/.test(r)) throw req.fail('E_FLAG', `HEALTHCHECK --retries: strconv.ParseInt: parsing "${r}": invalid syntax`);
    const n = Number(r);
    if (n > 2147483647 || n < -2147483648) throw req.fail('E_FLAG', `HEALTHCHECK --retries: strconv.ParseInt: parsing "${r}": value out of range`);
    if (n < 0) throw req.fail('E_FLAG', `--retries cannot be negative (${n})`);
    retries = n;
  }
  return { kind: 'cmd', command, test, interval, timeout, startPeriod, startInterval, retries };
}

function parseArgs(req: Req): ArgDefinition[] {
  if (req.args.length < 1) throw atLeastOne(req, 'ARG');
  return req.args.map((arg) => {
    const eq = arg.indexOf('=');
    if (eq === -1) return { key: arg };
    if (eq === 0) throw req.fail('E_ARGUMENTS', 'ARG names can not be blank');
    return { key: arg.slice(0, eq), value: arg.slice(eq + 1) };
  });
}

function parseRun(req: Req): Instruction {
  const f = req.flags(new FlagSet().strings('mount').string('network').string('security'));
  const network = f.strings.get('network') ?? 'default';
  if (!['default', 'none', 'host'].includes(network)) throw req.fail('E_FLAG', `invalid network mode "${network}"; use --network=default, none or host`);
  const security = f.strings.get('security') ?? 'sandbox';
  if (!['sandbox', 'insecure'].includes(security)) throw req.fail('E_FLAG', `security "${security}" is not valid; use --security=sandbox or insecure`);
  let mounts: MountSpec[];
  try {
    mounts = (f.lists.get('mount') ?? []).map(parseMountSpec);
  } catch (e) {
    if (e instanceof MountError) throw req.fail('E_FLAG', `RUN --mount: ${e.message}`);
    throw e;
  }
  return {
    kind: 'RUN',
    ...req.base(),
    command: commandLine(req),
    heredocs: req.node.heredocs,
    mounts,
    network: network as NetworkMode,
    security: security as SecurityMode,
    flagsUsed: f.used,
  };
}

function parseOnbuild(req: Req, file: string): Instruction {
  const sub = req.node.sub;
  if (!sub) throw atLeastOne(req, 'ONBUILD');
  req.flags(noFlags());
  const trigger = sub.keyword.toUpperCase().trim();
  if (trigger === 'ONBUILD') throw req.fail('E_ARGUMENTS', 'Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed');
  if (trigger === 'MAINTAINER' || trigger === 'FROM') throw req.fail('E_ARGUMENTS', `${trigger} isn't allowed as an ONBUILD trigger`);
  let expression = req.node.original.replace(/^\s*ONBUILD\s*/i, '');
  for (const h of sub.heredocs.length ? sub.heredocs : req.node.heredocs) expression += `\n${h.content}${h.name}`;
  let parsed: Instruction | undefined;
  let triggerError: string | undefined;
  try {
    parsed = parseInstruction({ ...sub, range: req.node.range }, file);
  } catch (e) {
    triggerError = e instanceof Error ? e.message : String(e);
  }
  return { kind: 'ONBUILD', ...req.base(), expression, ...(parsed ? { trigger: parsed } : {}), ...(triggerError ? { triggerError } : {}) };
}

/**
 * Types one syntax node. Throws {@link DockerfileSyntaxError} located at the instruction for an
 * unknown instruction (`E_UNKNOWN_INSTRUCTION`), bad arguments (`E_ARGUMENTS`) or bad flags (`E_FLAG`).
 *
 * @example parseInstruction(node, 'Dockerfile') // { kind: 'COPY', sources: ['a'], dest: '/b', ... }
 */
export function parseInstruction(node: SyntaxNode, file = 'Dockerfile'): Instruction {
  const req = new Req(node, file);
  const args = node.args;
  switch (node.keyword.toLowerCase()) {
    case 'env': {
      req.flags(noFlags());
      return { kind: 'ENV', ...req.base(), env: keyValues(req, 'ENV') };
    }
    case 'maintainer':
      if (args.length !== 1) throw exactlyOne(req, 'MAINTAINER');
      req.flags(noFlags());
      return { kind: 'MAINTAINER', ...req.base(), maintainer: args[0]! };
    case 'label':
      req.flags(noFlags());
      return { kind: 'LABEL', ...req.base(), labels: keyValues(req, 'LABEL') };
    case 'add':
    case 'copy':
      return parseCopyOrAdd(req, node.keyword.toUpperCase() as 'COPY' | 'ADD');
    case 'from': {
      let stageName: string | undefined;
      if (args.length === 3 && args[1]!.toLowerCase() === 'as') {
        stageName = args[2]!.toLowerCase();
        if (!VALID_STAGE_NAME.test(stageName)) {
          throw req.fail('E_ARGUMENTS', `invalid name for build stage: "${args[2]}", name can't start with a number or contain symbols`);
        }
      } else if (args.length !== 1) {
        throw req.fail('E_ARGUMENTS', 'FROM requires either one or three arguments (FROM <image> [AS <name>])');
      }
      const f = req.flags(new FlagSet().string('platform'));
      const platform = f.strings.get('platform');
      return { kind: 'FROM', ...req.base(), image: args[0]!, ...(stageName ? { stageName } : {}), ...(platform ? { platform } : {}) };
    }
    case 'onbuild':
      return parseOnbuild(req, file);
    case 'workdir':
      if (args.length !== 1) throw exactlyOne(req, 'WORKDIR');
      req.flags(noFlags());
      return { kind: 'WORKDIR', ...req.base(), path: args[0]! };
    case 'run':
      return parseRun(req);
    case 'cmd':
      req.flags(noFlags());
      return { kind: 'CMD', ...req.base(), command: commandLine(req), heredocs: node.heredocs };
    case 'entrypoint':
      req.flags(noFlags());
      return { kind: 'ENTRYPOINT', ...req.base(), command: commandLine(req), heredocs: node.heredocs };
    case 'healthcheck':
      return { kind: 'HEALTHCHECK', ...req.base(), health: parseHealthcheck(req) };
    case 'expose':
      if (args.length === 0) throw atLeastOne(req, 'EXPOSE');
      req.flags(noFlags());
      // BuildKit sorts the raw words (slices.Sort) before expansion.
      return { kind: 'EXPOSE', ...req.base(), ports: [...args].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)) };
    case 'user':
      if (args.length !== 1) throw exactlyOne(req, 'USER');
      req.flags(noFlags());
      return { kind: 'USER', ...req.base(), user: args[0]! };
    case 'volume': {
      if (args.length === 0) throw atLeastOne(req, 'VOLUME');
      req.flags(noFlags());
      const volumes = args.map((v) => v.trim());
      if (volumes.some((v) => v === '')) throw req.fail('E_ARGUMENTS', 'VOLUME specified can not be an empty string');
      return { kind: 'VOLUME', ...req.base(), volumes };
    }
    case 'stopsignal':
      // BuildKit never parses STOPSIGNAL's flags.
      if (args.length !== 1) throw exactlyOne(req, 'STOPSIGNAL');
      return { kind: 'STOPSIGNAL', ...req.base(), signal: args[0]! };
    case 'arg':
      // BuildKit never parses ARG's flags either.
      return { kind: 'ARG', ...req.base(), args: parseArgs(req) };
    case 'shell': {
      req.flags(noFlags());
      if (node.json && args.length === 0) throw atLeastOne(req, 'SHELL');
      if (!node.json) {
        if (args.length === 0 || args.join(' ') === '') throw atLeastOne(req, 'SHELL');
        throw req.fail('E_ARGUMENTS', 'SHELL requires the arguments to be in JSON form, for example SHELL ["/bin/bash", "-c"]');
      }
      return { kind: 'SHELL', ...req.base(), shell: [...args] };
    }
    default:
      throw req.fail(
        'E_UNKNOWN_INSTRUCTION',
        `${withSuggestion(`unknown instruction: ${node.keywordText}`, node.keywordText, INSTRUCTION_NAMES, false)}; valid instructions are ${INSTRUCTION_NAMES.join(', ')}`,
      );
  }
}

/**
 * Types every instruction of a syntax tree, in order.
 *
 * @example parseInstructions(parseDockerfile('FROM alpine\nRUN true\n')).map((i) => i.kind) // ['FROM', 'RUN']
 */
export function parseInstructions(tree: SyntaxTree): Instruction[] {
  return tree.children.map((node) => parseInstruction(node, tree.file));
}
