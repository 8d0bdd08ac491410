/**
 * The runner's side channels: workflow commands on stdout (`::warning::`, `::group::`) and the
 * files named by `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY`, written as `@actions/core` does.
 */
import { randomUUID } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { EOL } from 'node:os';
import type { Env } from './inputs.js';

function escapeData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

/** `::warning::`, `::error::`, `::notice::` annotations (data escaped so multi-line messages stay one command). */
export function issue(write: (s: string) => void, kind: 'warning' | 'error' | 'notice', message: string): void {
  write(`::${kind}::${escapeData(message)}${EOL}`);
}

/**
 * Sets a step output through `$GITHUB_OUTPUT` with the heredoc form
 * (`name<<DELIM\nvalue\nDELIM`), which carries any value, multi-line JSON included.
 */
export function setOutput(env: Env, write: (s: string) => void, name: string, value: string): void {
  const file = env.GITHUB_OUTPUT;
  if (!file) {
    // Outside a runner (or an old one): the deprecated command still works and shows in the log.
    write(`::set-output name=${name}::${escapeData(value)}${EOL}`);
    return;
  }
  const delimiter = `ghadelimiter_${randomUUID()}`;
  // A value containing the delimiter would end the heredoc early; a random UUID never appears by chance.
  if (name.includes(delimiter) || value.includes(delimiter)) throw new Error(`output ${name} contains the delimiter ${delimiter}`);
  appendFileSync(file, `${name}<<${delimiter}${EOL}${value}${EOL}${delimiter}${EOL}`, 'utf8');
}

/** Appends Markdown to the job summary, if the runner provides one. */
export function appendSummary(env: Env, markdown: string): boolean {
  const file = env.GITHUB_STEP_SUMMARY;
  if (!file) return false;
  appendFileSync(file, markdown, 'utf8');
  return true;
}
