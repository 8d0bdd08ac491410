/**
 * Reading `.dockerignore` files the way BuildKit does (moby/patternmatcher `ignorefile.ReadAll`,
 * and the `<Dockerfile>.dockerignore` lookup of dockerui `MainContext`).
 */
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { goClean, goTrimSpace } from './gopath.js';

/**
 * Parses the text of a `.dockerignore`: strips a UTF-8 BOM, skips lines whose first character is
 * `#` (before trimming), trims, skips blanks, cleans each path (`filepath.Clean`) and drops one
 * leading `/`, keeping a leading `!`.
 *
 * @example readIgnoreFile('# c\n/build/\n!build/keep\n') // ['build', '!build/keep']
 */
export function readIgnoreFile(text: string): string[] {
  const out: string[] = [];
  const lines = text.split('\n');
  // bufio.ScanLines: a final empty line after the last '\n' is not a line.
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  lines.forEach((rawLine, n) => {
    let line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
    if (n === 0 && line.startsWith('\ufeff')) line = line.slice(1);
    if (line.startsWith('#')) return;
    let pattern = goTrimSpace(line);
    if (pattern === '') return;
    const invert = pattern[0] === '!';
    if (invert) pattern = goTrimSpace(pattern.slice(1));
    if (pattern.length > 0) {
      pattern = goClean(pattern);
      if (pattern.length > 1 && pattern[0] === '/') pattern = pattern.slice(1);
    }
    out.push(invert ? '!' + pattern : pattern);
  });
  return out;
}

/** Where the patterns of a context came from. */
export interface IgnorePatterns {
  patterns: string[];
  /** Absolute path of the file read, or undefined when there was none. */
  file: string | undefined;
}

/**
 * Loads the exclude patterns of a build context: `<Dockerfile-name>.dockerignore` next to the
 * Dockerfile when it exists (it replaces `.dockerignore` entirely), else `.dockerignore` at the
 * context root, else none.
 *
 * @param contextDir the context root
 * @param dockerfilePath the Dockerfile path (absolute, or relative to the context root)
 * @example await loadIgnorePatterns('/src/app', 'Dockerfile')
 */
export async function loadIgnorePatterns(contextDir: string, dockerfilePath?: string): Promise<IgnorePatterns> {
  const candidates: string[] = [];
  if (dockerfilePath !== undefined) {
    const df = path.resolve(contextDir, dockerfilePath);
    candidates.push(path.join(path.dirname(df), path.basename(df) + '.dockerignore'));
  }
  candidates.push(path.join(contextDir, '.dockerignore'));
  for (const file of candidates) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') continue;
      throw e;
    }
    return { patterns: readIgnoreFile(text), file };
  }
  return { patterns: [], file: undefined };
}
