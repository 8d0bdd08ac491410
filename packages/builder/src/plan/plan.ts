/**
 * `build-image plan`: which layer steps a build would take from the cache and which it would run,
 * and why — without running anything. It is the build's own setup and solver in plan mode
 * (`SolverOptions.plan`): the same graph, the same step modules and key framing, looked up with
 * `CacheIndex.peek` (which, unlike `get`, changes nothing); a miss is explained from the step's
 * last recorded pre-image.
 *
 * What cannot be known before running: a COPY --from (or a RUN --mount from=) a stage that will
 * itself be rebuilt, because its content is the result of running. Such steps, and the steps
 * after them in their stage, are `unknown`.
 *
 * Base images are resolved (and, like a build, pulled into the store) because their manifest
 * digest starts every key built on them; `--cache-from` caches are imported first, as the build
 * does, so their entries count as hits.
 */
import type { BuildOptions } from '../solve/build.js';
import { setupBuild } from '../solve/setup.js';
import type { PlannedStep } from '../solve/solver.js';

export type { PlannedStep, Prediction } from '../solve/solver.js';

export interface BuildPlan {
  dockerfile: string;
  /** Target stage (name or index). */
  target: string;
  platform: string;
  /** Every layer step of the stages the target needs, in build order. */
  steps: PlannedStep[];
  summary: { hit: number; miss: number; unknown: number };
  /** Problems that did not stop the plan (a `--cache-from` that could not be read). */
  warnings: string[];
}

/**
 * Predicts, for every layer step the target needs, whether a build with these options would
 * reuse the cache or run it, and why; runs nothing and writes no cache entry.
 *
 * @example
 * const plan = await planBuild({ context: '.', target: 'app' })
 * for (const s of plan.steps) console.log(s.step.name, s.prediction, s.reasons)
 */
export async function planBuild(options: BuildOptions): Promise<BuildPlan> {
  const warnings: string[] = [];
  const { graph, fileLabel, solver } = await setupBuild(options, () => undefined, (w) => warnings.push(w), { plan: true });
  await solver.solveTarget();
  const target = graph.stages.find((s) => s.index === graph.target)!;
  const steps = [...solver.planned].sort((a, b) => a.step.id - b.step.id);
  return {
    dockerfile: fileLabel,
    target: target.name ?? String(target.index),
    platform: graph.platform.target.string,
    steps,
    summary: {
      hit: steps.filter((s) => s.prediction === 'hit').length,
      miss: steps.filter((s) => s.prediction === 'miss').length,
      unknown: steps.filter((s) => s.prediction === 'unknown').length,
    },
    warnings,
  };
}

/** The readable plan: one line per layer step with its prediction, reasons indented under it. */
export function formatPlan(plan: BuildPlan): string {
  const out = [`plan for ${plan.dockerfile} (target ${plan.target}, ${plan.platform}): nothing is run`];
  const labels = plan.steps.map((s) => `#${s.step.id} [${s.step.stage} ${s.step.index}/${s.step.total}] ${s.step.name.split('\n')[0]}`);
  const width = Math.min(70, Math.max(0, ...labels.map((l) => l.length)));
  plan.steps.forEach((s, i) => {
    const mark = s.prediction === 'hit' ? 'CACHED' : s.prediction === 'miss' ? 'RUN' : 'RUN?';
    const label = labels[i]!.length > width ? labels[i]!.slice(0, width - 1) + '…' : labels[i]!.padEnd(width);
    out.push(`${label}  ${mark}${s.layer ? `  ${s.layer.digest.slice(0, 19)}` : ''}`);
    for (const r of s.reasons) out.push(`    ${s.prediction === 'unknown' ? '?' : '-'} ${r}`);
  });
  const { hit, miss, unknown } = plan.summary;
  for (const w of plan.warnings) out.push(`warning: ${w}`);
  out.push(`${plan.steps.length} layer step${plan.steps.length === 1 ? '' : 's'}: ${hit} cached, ${miss} to run${unknown ? `, ${unknown} unknown until run` : ''}`);
  return `${out.join('\n')}\n`;
}
