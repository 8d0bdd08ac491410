/**
 * `build-image plan [build flags] CONTEXT`: the predicted cache hit or miss of every layer step,
 * with reasons, running nothing. Takes `build`'s flags so a build command line becomes a plan by
 * changing one word; flags about outputs are accepted and have no effect on the plan.
 */
import { formatPlan, planBuild } from '../../plan/index.js';
import { ensureUserNamespace } from '../../rootless/index.js';
import { BUILD_FLAGS, buildOptionsFromFlags } from '../build-flags.js';
import { parseFlags } from '../flags.js';
import { UsageError, type CommandSpec, type ExitCode } from '../io.js';

// build's flags: those about outputs and display are accepted and have no effect on the plan.
const FLAGS = [...BUILD_FLAGS, { name: 'json', type: 'boolean' } as const];

export const planCommand: CommandSpec = {
  name: 'plan',
  summary: 'Predict which steps a build would take from the cache and which it would run, and why (runs nothing)',
  usage: 'build-image plan [build flags] [--json] CONTEXT',
  async run(argv, io): Promise<ExitCode> {
    const args = parseFlags(argv, FLAGS);
    if (args.positionals.length !== 1) throw new UsageError('plan needs exactly one CONTEXT path (e.g. ".")');
    // The cache holds files owned by the build's mapped ids: read it from the same namespace.
    const ns = await ensureUserNamespace();
    if (ns.state === 'reexec') return ns.exitCode as ExitCode;
    // --cache-to is parsed (a typo fails here as it would in the build) and has no other effect.
    const options = buildOptionsFromFlags(args, io);
    const plan = await planBuild(options);
    io.stdout(args.booleans.has('json') ? `${JSON.stringify(plan, null, 2)}\n` : formatPlan(plan));
    return 0;
  },
};
