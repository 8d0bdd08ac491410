/**
 * `--progress=plain`: BuildKit's plain format, one line per event, so logs from CI read like
 * `docker buildx build --progress=plain`:
 *
 *     #3 [build 2/4] RUN make
 *     #3 0.412 cc -o app main.c
 *     #3 DONE 1.2s
 *     #4 [build 3/4] COPY src/ /app/
 *     #4 CACHED
 */
import type { ProgressEvent, StepRef } from './events.js';

function label(step: StepRef): string {
  return `#${step.id} [${step.stage} ${step.index}/${step.total}] ${step.name}`;
}

/**
 * A renderer that writes plain progress through `write`. Output lines of a step are prefixed with its number and time.
 *
 * @example
 * ```ts
 * await build({ context: '.', onProgress: plainRenderer((text) => process.stderr.write(text)) })
 * ```
 */
export function plainRenderer(write: (text: string) => void): (event: ProgressEvent) => void {
  const startedAt = new Map<number, number>();
  const partial = new Map<number, string>();
  return (event) => {
    switch (event.type) {
      case 'build-start':
        write(`#0 building ${event.dockerfile}${event.target ? ` (target ${event.target})` : ''} for ${event.platform}\n`);
        break;
      case 'step-start':
        startedAt.set(event.step.id, event.time);
        write(`${label(event.step)}\n`);
        break;
      case 'step-cached':
        write(`#${event.step.id} CACHED\n`);
        break;
      case 'step-output': {
        const t = ((event.time - (startedAt.get(event.step.id) ?? event.time)) / 1000).toFixed(3);
        const text = (partial.get(event.step.id) ?? '') + event.text;
        const lines = text.split('\n');
        partial.set(event.step.id, lines.pop() ?? '');
        for (const l of lines) write(`#${event.step.id} ${t} ${l}\n`);
        break;
      }
      case 'step-done': {
        const rest = partial.get(event.step.id);
        if (rest) write(`#${event.step.id} ${rest}\n`);
        partial.delete(event.step.id);
        for (const reason of event.miss ?? []) write(`#${event.step.id} cache miss: ${reason}\n`);
        write(`#${event.step.id} DONE ${(event.durationMs / 1000).toFixed(1)}s\n`);
        break;
      }
      case 'step-error':
        write(`#${event.step.id} ERROR: ${event.message}\n`);
        break;
      case 'log':
        write(`${event.level === 'warn' ? 'WARNING: ' : ''}${event.message}\n`);
        break;
      case 'build-done':
        write(`#done ${event.steps.run} run, ${event.steps.cached} cached in ${(event.durationMs / 1000).toFixed(1)}s\n`);
        if (event.image) write(`#done image ${event.image.digest} (config ${event.image.configDigest}, ${event.image.size} bytes)\n`);
        for (const o of event.outputs) write(`#done exported ${o}\n`);
        break;
    }
  };
}

/**
 * `--progress=json`: one event per line (the schema is `ProgressEvent`, version field `v`).
 *
 * @example
 * ```ts
 * await build({ context: '.', onProgress: jsonRenderer((line) => process.stderr.write(line)) })
 * ```
 */
export function jsonRenderer(write: (text: string) => void): (event: ProgressEvent) => void {
  return (event) => write(`${JSON.stringify(event)}\n`);
}
