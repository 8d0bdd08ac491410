/**
 * The one error family of build-image. Every error any package throws on purpose is a
 * {@link BuildError} with a stable `code`; callers match on `code`, never on message text.
 *
 * `instanceof` across two installed copies of this package fails for ordinary classes, so the
 * class carries a `Symbol.for` brand and overrides `Symbol.hasInstance` (the approach undici takes).
 *
 * @example
 * ```ts
 * try { await build(opts) } catch (e) {
 *   if (BuildError.is(e) && e.code === 'E_UNKNOWN_INSTRUCTION') console.error(e.location)
 * }
 * ```
 */
const BRAND = Symbol.for('build-image.BuildError');

/** A position in a source file, 1-based and inclusive, as editors show it. */
export interface SourceLocation {
  /** File name as the user gave it (e.g. `Dockerfile`, `ci/Dockerfile.prod`). */
  file: string;
  line: number;
  column: number;
  endLine: number;
  endColumn: number;
}

export interface BuildErrorOptions {
  cause?: unknown;
  /** Structured details a program can act on; must be JSON-serializable. */
  data?: Record<string, unknown>;
  location?: SourceLocation;
  /** The source text the location points into, so any layer can print a code frame. */
  source?: string;
}

export class BuildError extends Error {
  readonly [BRAND] = true;
  override readonly name: string = 'BuildError';
  readonly code: string;
  readonly data: Record<string, unknown>;
  readonly location: SourceLocation | undefined;
  readonly source: string | undefined;

  constructor(code: string, message: string, options: BuildErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.data = options.data ?? {};
    this.location = options.location;
    this.source = options.source;
  }

  /** True for any BuildError, even one created by another installed copy of this package. */
  static is(value: unknown): value is BuildError {
    return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[BRAND] === true;
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    // Subclasses keep ordinary prototype checks; the base class accepts any branded error.
    if (this === BuildError) return BuildError.is(value);
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }

  /** `file:line:column` prefix, or '' when the error has no location. */
  get where(): string {
    const l = this.location;
    return l ? `${l.file}:${l.line}:${l.column}` : '';
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      data: this.data,
      ...(this.location ? { location: this.location } : {}),
    };
  }
}

/**
 * Renders a code frame for an error with a location: the offending lines with a caret
 * under the column, like BuildKit's `Source.Print`.
 */
export function formatCodeFrame(source: string, loc: SourceLocation, context = 2): string {
  const lines = source.split('\n');
  const first = Math.max(1, loc.line - context);
  const last = Math.min(lines.length, Math.max(loc.line, loc.endLine) + context);
  const width = String(last).length;
  const out: string[] = [];
  for (let n = first; n <= last; n++) {
    const marker = n >= loc.line && n <= Math.max(loc.line, loc.endLine) ? '>' : ' ';
    out.push(`${marker} ${String(n).padStart(width)} | ${(lines[n - 1] ?? '').replace(/\r$/, '')}`);
    if (n === loc.line) out.push(`  ${' '.repeat(width)} | ${' '.repeat(Math.max(0, loc.column - 1))}^`);
  }
  return out.join('\n');
}
