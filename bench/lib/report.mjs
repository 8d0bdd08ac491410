// Turns the raw measurements of compare.mjs into medians, ratios and a markdown report.
import { median, mib, ratio, secs, times } from './stats.mjs';

export const PHASES = ['cold', 'warm', 'edit'];

/** Medians per case/tool/phase: {ms, maxRssKb, rssDeltaKb} over the runs that succeeded. */
export function summarize(results, cases, tools) {
  const out = {};
  for (const c of cases) {
    out[c] = {};
    for (const t of tools) {
      const runs = results[c]?.[t]?.runs ?? [];
      out[c][t] = {};
      for (const p of PHASES) {
        const got = runs.map((r) => r[p]).filter(Boolean);
        out[c][t][p] = {
          ms: median(got.map((g) => g.ms)),
          maxRssKb: median(got.map((g) => g.maxRssKb)),
          rssDeltaKb: median(got.map((g) => g.rssDeltaKb)),
          n: got.length,
        };
      }
    }
  }
  return out;
}

/** Per-RUN overhead in ms from cold medians: (run20 − run0)/20 and (write20 − run0)/20. */
export function perRun(summary, tools) {
  const out = {};
  for (const t of tools) {
    const base = summary.run0?.[t]?.cold.ms;
    const d = (name) => {
      const v = summary[name]?.[t]?.cold.ms;
      return typeof v === 'number' && typeof base === 'number' ? (v - base) / 20 : undefined;
    };
    out[t] = { runTrue: d('run20'), write1MiB: d('write20') };
  }
  return out;
}

/** Image-id checks: a warm rebuild should give the cold build's id, an edit a different one. */
export function checks(results, cases, tools) {
  const lines = [];
  for (const c of cases) {
    for (const t of tools) {
      for (const [i, r] of (results[c]?.[t]?.runs ?? []).entries()) {
        if (r.cold?.imageId && r.warm?.imageId && r.cold.imageId !== r.warm.imageId) {
          lines.push(`${c} / ${t} run ${i + 1}: warm rebuild gave another image (${r.cold.imageId} → ${r.warm.imageId})`);
        }
        if (r.warm?.imageId && r.edit?.imageId && r.warm.imageId === r.edit.imageId) {
          lines.push(`${c} / ${t} run ${i + 1}: the edit did not change the image (${r.edit.imageId})`);
        }
      }
    }
  }
  return lines;
}

/** The markdown report. `meta` has date, host, versions, runs, notes; `labels` tool → column title. */
export function markdown({ meta, summary, perRunMs, floor, checkLines, errors, cases, tools, labels, rssNotes }) {
  const has = (t) => tools.includes(t);
  const cols = tools.map((t) => labels[t]);
  const ratioCols = [has('buildkit') && 'ours/BuildKit', has('buildah') && 'ours/Buildah'].filter(Boolean);
  const ratios = (get) => [has('buildkit') && times(ratio(get('ours'), get('buildkit'))), has('buildah') && times(ratio(get('ours'), get('buildah')))].filter((x) => x !== false);
  const header = (first) => [`| ${[...first, ...cols, ...ratioCols].join(' | ')} |`, `|${[...first, ...cols, ...ratioCols].map(() => ' --- ').join('|')}|`];

  const L = [];
  L.push(`# build-image vs BuildKit vs Buildah — ${meta.date}`, '');
  L.push(`Machine: ${meta.host}. Load average before/after: ${meta.loadBefore} / ${meta.loadAfter}.`);
  L.push(`Tree: ${meta.commit}. Runs per cell: ${meta.runs} (median shown).`);
  L.push(`Versions: ${Object.entries(meta.versions).map(([k, v]) => `${labels[k] ?? k}: ${v}`).join('; ')}.`, '');
  L.push(
    'Outputs: build-image writes an OCI archive (`--output type=oci,dest=…`) on every build, warm ones included; ' +
      'BuildKit commits into dockerd\'s image store (`docker build -t`); Buildah commits into its containers/storage. ' +
      'Times are wall-clock of the client command (CLI start-up, context transfer, pull from the loopback registry on cold builds, export/commit).',
    '',
  );
  L.push('## Build time (seconds, median)', '', ...header(['case', 'phase']));
  for (const c of cases) {
    for (const p of PHASES) {
      const get = (t) => summary[c][t][p].ms;
      L.push(`| ${c} | ${p} | ${[...tools.map((t) => secs(get(t))), ...ratios(get)].join(' | ')} |`);
    }
  }
  L.push('', '## Peak RSS (MiB, median)', '');
  for (const t of tools) L.push(`- ${labels[t]}: ${rssNotes[t]}.`);
  L.push('', ...header(['case', 'phase']));
  for (const c of cases) {
    for (const p of PHASES) {
      const get = (t) => summary[c][t][p].maxRssKb;
      L.push(`| ${c} | ${p} | ${[...tools.map((t) => mib(get(t))), ...ratios(get)].join(' | ')} |`);
    }
  }
  if (has('buildkit')) {
    L.push('', 'dockerd peak minus its RSS just before the build (MiB, median): ' +
      cases.map((c) => `${c} ${PHASES.map((p) => mib(summary[c].buildkit[p].rssDeltaKb)).join('/')}`).join('; ') + ' (cold/warm/edit).');
  }
  if (cases.includes('run0') && (cases.includes('run20') || cases.includes('write20'))) {
    L.push('', '## Per-RUN overhead (ms per step, from cold medians)', '', ...header(['step']));
    for (const [key, title] of [['runTrue', '`RUN true`: (run20 − run0) / 20'], ['write1MiB', '1 MiB write: (write20 − run0) / 20']]) {
      const get = (t) => perRunMs[t][key];
      L.push(`| ${title} | ${[...tools.map((t) => (typeof get(t) === 'number' ? get(t).toFixed(0) : '–')), ...ratios(get)].join(' | ')} |`);
    }
    if (floor) {
      // Every tool runs each RUN through the same runc: what is left after the floor is the engine's.
      L.push('', `### The same split into runc + command (the floor) and what the engine adds`, '');
      L.push(`Runtime floor: bare \`runc run\` of the step's command on an overlay of the busybox rootfs, no engine, median of ${floor.runs} runs (measured ${floor.samples.length}× in this run: ${floor.samples.map((f) => `${f.ms.runTrue}/${f.ms.write1MiB}`).join(', ')} ms): \`RUN true\` ${floor.ms.runTrue.toFixed(1)} ms, 1 MiB write ${floor.ms.write1MiB.toFixed(1)} ms.`, '');
      L.push(...header(['engine overhead = per-step − floor']));
      for (const [key, title] of [['runTrue', '`RUN true`'], ['write1MiB', '1 MiB write']]) {
        const get = (t) => (typeof perRunMs[t][key] === 'number' ? perRunMs[t][key] - floor.ms[key] : undefined);
        L.push(`| ${title} | ${[...tools.map((t) => (typeof get(t) === 'number' ? get(t).toFixed(0) : '–')), ...ratios(get)].join(' | ')} |`);
      }
    }
  }
  L.push('', '## Checks and errors', '');
  if (checkLines.length === 0 && errors.length === 0) L.push('All builds succeeded; every warm rebuild reproduced the cold image id and every edit changed it.');
  for (const l of checkLines) L.push(`- ${l}`);
  for (const e of errors) L.push(`- **${e.where}**: ${e.message}`, '', '```', e.tail.trim(), '```');
  L.push('');
  return L.join('\n');
}
