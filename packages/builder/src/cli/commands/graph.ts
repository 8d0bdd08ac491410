/** `build-image graph`: the build graph for given build args, target and platform (text or --json). */
import { createBuildGraph, type BuildGraph, type Step } from '@build-image/parser';
import * as path from 'node:path';
import { printError } from '../errors.js';
import { buildArgsFrom, parseFlags } from '../flags.js';
import { UsageError, type CommandSpec } from '../io.js';
import { hostPlatformString } from '../../platform.js';

function describeStep(s: Step): string {
  let line = `    ${String(s.location.line).padStart(4)}  ${s.onbuild ? 'ONBUILD ' : ''}${s.text.split('\n')[0]}`;
  if (s.source && s.source.kind !== 'context') line += `   <- ${s.source.kind === 'stage' ? `stage ${s.source.index}` : s.source.kind === 'image' ? `image ${s.source.ref}` : 'scratch'}`;
  for (const m of s.mounts ?? []) if (m.sourceRef.kind === 'stage' || m.sourceRef.kind === 'image') line += `   <- mount ${m.sourceRef.kind === 'stage' ? `stage ${m.sourceRef.index}` : `image ${m.sourceRef.ref}`}`;
  if (s.usedArgs.length) line += `   [args: ${s.usedArgs.join(', ')}]`;
  return line;
}

/** The readable form: one block per stage with its base, platform, edges and steps. */
export function formatGraph(g: BuildGraph): string {
  const out: string[] = [];
  out.push(`platform: target ${g.platform.target.string}, build ${g.platform.build.string}`);
  if (g.globalArgs.length) out.push(`global args: ${g.globalArgs.map(([k, v]) => `${k}=${v}`).join(' ')}`);
  for (const st of g.stages) {
    const base = st.base.kind === 'image' ? `image ${st.base.ref}` : st.base.kind === 'stage' ? `stage ${st.base.index}` : 'scratch';
    const mark = st.index === g.target ? ' (target)' : '';
    out.push(`stage ${st.index}${st.name ? ` "${st.name}"` : ''}${mark}: FROM ${base} [${st.platform.string}]`);
    if (st.dependsOn.length) out.push(`  depends on stages: ${st.dependsOn.join(', ')}`);
    if (st.imageDependencies.length) out.push(`  reads images: ${st.imageDependencies.join(', ')}`);
    for (const s of st.steps) out.push(describeStep(s));
  }
  if (g.unusedBuildArgs.length) out.push(`warning: build args not consumed: ${g.unusedBuildArgs.join(', ')}`);
  return `${out.join('\n')}\n`;
}

export const graphCommand: CommandSpec = {
  name: 'graph',
  summary: 'Print the build graph (stages, bases, steps, edges) for a Dockerfile',
  usage: 'build-image graph [-f FILE] [--target T] [--build-arg K[=V]]... [--platform P] [--json]',
  async run(argv, io) {
    const args = parseFlags(argv, [
      { name: 'file', short: 'f', type: 'string' },
      { name: 'target', type: 'string' },
      { name: 'build-arg', type: 'list' },
      { name: 'platform', type: 'string' },
      { name: 'json', type: 'boolean' },
    ]);
    if (args.positionals.length > 1) throw new UsageError('graph takes at most one context path');
    const file = args.values.get('file')?.[0] ?? 'Dockerfile';
    const fullPath = path.resolve(io.cwd, args.positionals[0] ?? '.', file);
    let text: string;
    try {
      text = await io.readFile(fullPath);
    } catch (e) {
      io.stderr(`error: cannot read ${file}: ${(e as Error).message}\n`);
      return 1;
    }
    try {
      const platform = args.values.get('platform')?.[0];
      const target = args.values.get('target')?.[0];
      const graph = createBuildGraph(text, {
        file,
        buildArgs: buildArgsFrom(args.values.get('build-arg') ?? [], io.env),
        buildPlatform: hostPlatformString(),
        ...(platform ? { platform } : {}),
        ...(target ? { target } : {}),
      });
      io.stdout(args.booleans.has('json') ? `${JSON.stringify(graph, null, 2)}\n` : formatGraph(graph));
      return 0;
    } catch (e) {
      printError(io, e, text);
      return 1;
    }
  },
};
