/**
 * A time budget as an AbortSignal that is sure to fire. Node 20's `AbortSignal.timeout()` signal
 * can be garbage-collected while only `AbortSignal.any()` refers to it, and then the combined
 * signal never aborts (seen here as an export ignoring its budget under memory pressure). A plain
 * timer holding its controller cannot be collected before it fires.
 */
export interface Deadline {
  signal: AbortSignal;
  /** Stops the timer (call when the work is done, so the process is not kept alive). */
  dispose(): void;
}

/** A signal that aborts after `ms` milliseconds, or when any of `also` aborts. */
export function deadline(ms: number, ...also: Array<AbortSignal | undefined>): Deadline {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException(`time budget of ${ms} ms used up`, 'TimeoutError')), ms);
  const others = also.filter((s): s is AbortSignal => s !== undefined);
  return {
    signal: others.length ? AbortSignal.any([controller.signal, ...others]) : controller.signal,
    dispose: () => clearTimeout(timer),
  };
}
