/**
 * Action inputs as a runner passes them (`INPUT_<NAME>` with the name upper-cased, spaces turned
 * into underscores and hyphens kept: `INPUT_BUILD-ARGS`), read with docker/build-push-action's
 * conventions so a workflow migrates by swapping `uses:`:
 *
 * - a list is newline- or comma-delimited, parsed as CSV (double quotes group a value that holds
 *   commas or newlines, as `@docker/actions-toolkit`'s `Util.getInputList` does), empty items
 *   dropped and items trimmed; `ignoreComma` lists split on newlines only (`build-args`,
 *   `labels`, `outputs`, `cache-from`, ...), since their values contain commas;
 * - lines whose first character is `#` are comments;
 * - booleans are the YAML 1.2 core-schema words (`true`/`True`/`TRUE`, `false`/...), as
 *   `@actions/core.getBooleanInput` accepts them.
 */
import { parse } from 'csv-parse/sync';

export type Env = Record<string, string | undefined>;

/** Thrown for an input that is malformed or not supported; the message says which and what to do. */
export class InputError extends Error {
  override readonly name = 'InputError';
}

/** The raw input, trimmed (`@actions/core.getInput`). */
export function getInput(env: Env, name: string): string {
  return (env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? '').trim();
}

/** A boolean input; `fallback` when empty (action.yml normally supplies the default). */
export function getBooleanInput(env: Env, name: string, fallback = false): boolean {
  const v = getInput(env, name);
  if (v === '') return fallback;
  if (['true', 'True', 'TRUE'].includes(v)) return true;
  if (['false', 'False', 'FALSE'].includes(v)) return false;
  throw new InputError(`Input "${name}" is "${v}": use true or false (YAML 1.2 core schema)`);
}

export interface ListOptions {
  /** Split on newlines only: for values that contain commas (`build-args`, `outputs`, ...). */
  ignoreComma?: boolean;
  /** Double quotes group (default). `false` keeps them as text (for `outputs`, like build-push-action). */
  quote?: boolean;
}

/**
 * A list input, split as `Util.getInputList` does.
 *
 * @example getList('linux/amd64,linux/arm64') // ['linux/amd64', 'linux/arm64']
 * @example getList('A=1\n# comment\n"B=x,y"', { ignoreComma: true }) // ['A=1', 'B=x,y']
 */
export function getList(input: string, options: ListOptions = {}): string[] {
  if (input === '') return [];
  const records = parse(input, {
    columns: false,
    relax_quotes: true,
    relax_column_count: true,
    skip_empty_lines: true,
    comment: '#',
    // Only whole-line comments: `COLOR=#fff` stays a value.
    comment_no_infix: true,
    ...(options.quote === false ? { quote: false } : {}),
  }) as string[][];
  const out: string[] = [];
  for (const record of records) {
    if (record.length === 1) out.push(...(options.ignoreComma ? [record[0]!] : record[0]!.split(',')));
    else if (!options.ignoreComma) out.push(...record);
    else out.push(record.join(','));
  }
  return out.filter((item) => item).map((item) => item.trim()).filter((item) => item);
}

/** {@link getList} over an input. */
export function getInputList(env: Env, name: string, options: ListOptions = {}): string[] {
  return getList(getInput(env, name), options);
}
