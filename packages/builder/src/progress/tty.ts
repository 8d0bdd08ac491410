/**
 * `--progress=tty`: a live view like buildx's, redrawn in place with ANSI cursor movement:
 *
 *     [+] Building 3.2s (5/7)
 *      => CACHED [base 1/3] COPY rootfs/ /                              0.0s
 *      => [build 2/4] RUN make                                          1.2s
 *      => => # cc -o app main.c
 *
 * Redraws are throttled (at most one per `intervalMs`, default 100 ms) because a chatty RUN can
 * emit thousands of output events a second and a terminal repaint per event would dominate the
 * build. Lines are cut to the terminal width: a wrapped line would break the cursor arithmetic.
 * When the build ends the last frame is printed once more in full, then a summary (steps run
 * and cached, every miss with its reason, the image and where it went).
 */
import type { ProgressEvent, ProgressListener, StepRef } from './events.js';

/** What the renderer writes to: a TTY stream (or anything with `write`, for tests). */
export interface TtyStream {
  write(text: string): unknown;
  /** Terminal width; 80 if unknown. */
  columns?: number;
  /** Terminal height; bounds the live area. */
  rows?: number;
}

export interface TtyRendererOptions {
  /** Minimum time between redraws. Default 100 ms (10 redraws a second at most). */
  intervalMs?: number;
  /** Lines of a running step's output shown under it. Default 6. */
  outputLines?: number;
  /** ANSI colors (default on unless `NO_COLOR` is set). */
  color?: boolean;
  /** Clock, for tests. */
  now?: () => number;
}

/** A progress listener that owns a timer: call `close()` if the build fails before `build-done`. */
export type TtyRenderer = ProgressListener & {
  /** Draws the final frame (if not yet drawn) and stops redrawing. */
  close(): void;
};

type StepStatus = 'running' | 'cached' | 'done' | 'error';

interface StepView {
  ref: StepRef;
  status: StepStatus;
  started: number;
  ended?: number;
  /** Last lines of output, and the unfinished last line. */
  tail: string[];
  partial: string;
  miss?: string[];
  error?: string;
}

const ESC = '\x1b[';

function label(ref: StepRef): string {
  return `[${ref.stage} ${ref.index}/${ref.total}] ${ref.name}`;
}

function seconds(ms: number): string {
  return `${(Math.max(0, ms) / 1000).toFixed(1)}s`;
}

/**
 * Byte sizes as docker prints them (decimal units).
 *
 * @example
 * ```ts
 * humanSize(1234567) // '1.23MB'
 * ```
 */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let n = bytes;
  let u = 0;
  while (n >= 1000 && u < units.length - 1) {
    n /= 1000;
    u++;
  }
  return u === 0 ? `${n}B` : `${n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)}${units[u]}`;
}

/** Control characters a RUN may print (cursor moves, carriage returns) would corrupt the frame. */
function sanitize(line: string): string {
  // eslint-disable-next-line no-control-regex
  return line.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '');
}

function fit(text: string, width: number): string {
  const chars = [...text];
  return chars.length <= width ? text : chars.slice(0, Math.max(0, width - 1)).join('') + '…';
}

/**
 * A renderer that draws live progress on `stream` (normally `process.stderr` when it is a TTY).
 *
 * @example
 * const render = ttyRenderer(process.stderr);
 * try { await build({ ...options, onProgress: render }) } finally { render.close() }
 */
export function ttyRenderer(stream: TtyStream, options: TtyRendererOptions = {}): TtyRenderer {
  const now = options.now ?? Date.now;
  const interval = options.intervalMs ?? 100;
  const maxOutput = options.outputLines ?? 6;
  const color = options.color ?? !process.env.NO_COLOR;
  const paint = (code: string, s: string) => (color ? `${ESC}${code}m${s}${ESC}0m` : s);

  const steps = new Map<number, StepView>();
  const logs: string[] = [];
  let startedAt: number | undefined;
  let finished: Extract<ProgressEvent, { type: 'build-done' }> | undefined;
  let drawnLines = 0;
  let lastDraw = 0;
  let pending: ReturnType<typeof setTimeout> | undefined;
  let ticker: ReturnType<typeof setInterval> | undefined;
  let closed = false;

  // A pty without a window size reports 0 columns.
  const width = () => Math.max(20, (stream.columns || 80) - 1);

  function stepLine(s: StepView, w: number): string {
    const t = now();
    const elapsed = seconds((s.ended ?? t) - s.started);
    const prefix = s.status === 'cached' ? 'CACHED ' : s.status === 'error' ? 'ERROR ' : '';
    const left = ` => ${prefix}${label(s.ref)}`;
    const room = w - elapsed.length - 1;
    const body = fit(left, room).padEnd(room);
    const line = `${body} ${elapsed}`;
    if (s.status === 'error') return paint('31', line);
    if (s.status === 'running') return paint('34', line);
    if (s.status === 'cached') return paint('2', line);
    return line;
  }

  function frame(final: boolean): string[] {
    const w = width();
    const list = [...steps.values()].sort((a, b) => a.ref.id - b.ref.id);
    const complete = list.filter((s) => s.status !== 'running').length;
    const total = finished ? `${(finished.durationMs / 1000).toFixed(1)}s` : seconds(now() - (startedAt ?? now()));
    const header = `[+] Building ${total} (${complete}/${list.length})${final ? (finished && !list.some((s) => s.status === 'error') ? ' FINISHED' : ' ERROR') : ''}`;
    const lines: string[] = [fit(header, w)];
    for (const s of list) {
      lines.push(stepLine(s, w));
      const showOutput = s.status === 'running' || s.status === 'error';
      if (showOutput) {
        const out = [...s.tail, ...(s.partial ? [s.partial] : [])].slice(-maxOutput);
        for (const o of out) lines.push(fit(` => => # ${sanitize(o)}`, w));
      }
      if (s.status === 'error' && s.error) lines.push(paint('31', fit(` => => ERROR: ${sanitize(s.error.split('\n')[0] ?? '')}`, w)));
    }
    for (const l of logs.slice(final ? 0 : -3)) lines.push(fit(l, w));
    if (final) return lines;
    // The live area must fit the screen: cursor-up cannot reach lines that scrolled away. Keep
    // the header and the newest lines (running steps are last: ids grow as stages advance).
    const rows = stream.rows ?? 0;
    if (rows > 2 && lines.length > rows - 1) return [lines[0]!, ...lines.slice(lines.length - (rows - 2))];
    return lines;
  }

  function draw(final = false): void {
    lastDraw = now();
    const lines = frame(final);
    let out = drawnLines > 0 ? `${ESC}${drawnLines}A\r` : '';
    for (const l of lines) out += `${l}${ESC}K\n`;
    out += `${ESC}J`;
    stream.write(out);
    drawnLines = final ? 0 : lines.length;
  }

  function schedule(): void {
    if (closed || pending) return;
    const wait = Math.max(0, interval - (now() - lastDraw));
    pending = setTimeout(() => {
      pending = undefined;
      if (!closed) draw();
    }, wait);
    pending.unref?.();
  }

  function summary(done: Extract<ProgressEvent, { type: 'build-done' }>): string {
    const out: string[] = [];
    out.push(`${done.steps.run} step${done.steps.run === 1 ? '' : 's'} run, ${done.steps.cached} cached in ${(done.durationMs / 1000).toFixed(1)}s`);
    const misses = [...steps.values()].filter((s) => s.miss?.length).sort((a, b) => a.ref.id - b.ref.id);
    if (misses.length) {
      out.push('cache misses:');
      for (const s of misses) out.push(`  #${s.ref.id} ${label(s.ref)}: ${s.miss!.join('; ')}`);
    }
    if (done.image) out.push(`image ${done.image.digest} (${humanSize(done.image.size)}), config ${done.image.configDigest}`);
    for (const o of done.outputs) out.push(`exported ${o}`);
    return out.map((l) => `${l}\n`).join('');
  }

  function finish(): void {
    if (closed) return;
    closed = true;
    if (pending) clearTimeout(pending);
    if (ticker) clearInterval(ticker);
    draw(true);
    if (finished) stream.write(summary(finished));
  }

  const listener = ((event: ProgressEvent) => {
    if (closed) return;
    switch (event.type) {
      case 'build-start':
        startedAt = event.time;
        // Elapsed times move even when no event comes; schedule() still bounds the redraw rate.
        ticker ??= setInterval(schedule, interval);
        ticker.unref?.();
        break;
      case 'step-start':
        steps.set(event.step.id, { ref: event.step, status: 'running', started: event.time, tail: [], partial: '' });
        break;
      case 'step-cached': {
        const s = steps.get(event.step.id) ?? { ref: event.step, status: 'cached', started: event.time, tail: [], partial: '' };
        s.status = 'cached';
        s.ended = event.time;
        steps.set(event.step.id, s);
        break;
      }
      case 'step-output': {
        const s = steps.get(event.step.id);
        if (!s) break;
        const lines = (s.partial + event.text).split(/\r?\n/);
        s.partial = lines.pop() ?? '';
        // A carriage return redraws a line in place (progress bars): keep what it last showed.
        s.tail.push(...lines.map((l) => l.slice(l.lastIndexOf('\r') + 1)));
        if (s.tail.length > maxOutput) s.tail.splice(0, s.tail.length - maxOutput);
        s.partial = s.partial.slice(s.partial.lastIndexOf('\r') + 1);
        break;
      }
      case 'step-done': {
        const s = steps.get(event.step.id) ?? { ref: event.step, status: 'done', started: event.time - event.durationMs, tail: [], partial: '' };
        s.status = 'done';
        s.ended = event.time;
        if (event.miss?.length) s.miss = event.miss;
        steps.set(event.step.id, s);
        break;
      }
      case 'step-error': {
        const s = steps.get(event.step.id) ?? { ref: event.step, status: 'error', started: event.time, tail: [], partial: '' };
        s.status = 'error';
        s.ended = event.time;
        s.error = event.message;
        steps.set(event.step.id, s);
        break;
      }
      case 'log':
        logs.push(`${event.level === 'warn' ? 'WARNING: ' : ''}${event.message}`);
        break;
      case 'build-done':
        finished = event;
        finish();
        return;
    }
    schedule();
  }) as TtyRenderer;
  listener.close = finish;
  return listener;
}
