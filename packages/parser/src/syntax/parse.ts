/**
 * `parseDockerfile`: BuildKit's `parser.Parse`, line for line in behaviour, with 1-based line
 * and column ranges and typed errors.
 */
import type { SourceLocation } from '@build-image/errors';
import { DockerfileSyntaxError, type DockerfileErrorCode } from '../errors.js';
import { DirectiveReader } from './directives.js';
import { LineParseError, partsFromLine, type InstructionParts } from './dispatch.js';
import { goSpaceEnd, goTrimSpace, toWellFormed, utf8Length } from './gotext.js';
import { HeredocWordError, heredocsFromLine } from './heredoc.js';
import type { Heredoc, ParseOptions, ParseWarning, SyntaxNode, SyntaxTree } from './types.js';

/** bufio.Scanner's limit: BuildKit cannot read a line longer than this. */
const MAX_LINE_BYTES = 64 * 1024;

/** Physical lines of the file, each with its `\n` (the last one may lack it). */
interface PhysicalLines {
  raw: string[];
  /** Set when a line is too long: BuildKit's scanner stops before it. */
  tooLongAt?: number;
}

function splitLines(text: string): PhysicalLines {
  const raw: string[] = [];
  let start = 0;
  while (start < text.length) {
    const nl = text.indexOf('\n', start);
    const end = nl < 0 ? text.length : nl + 1;
    const line = text.slice(start, end);
    // The scanner buffer holds 64 KiB: a line with its newline may fill it exactly; without a
    // newline (end of file) it must leave one byte free.
    const limit = nl < 0 ? MAX_LINE_BYTES - 1 : MAX_LINE_BYTES;
    if (line.length > limit / 3 && utf8Length(line) > limit) return { raw, tooLongAt: raw.length + 1 };
    raw.push(line);
    start = end;
  }
  return { raw };
}

/** `bytes.TrimRight(line, "\r\n")`. */
function trimNewline(s: string): string {
  let end = s.length;
  while (end > 0 && (s.charCodeAt(end - 1) === 0x0a || s.charCodeAt(end - 1) === 0x0d)) end--;
  return end === s.length ? s : s.slice(0, end);
}

function isComment(s: string): boolean {
  const i = goSpaceEnd(s);
  return i < s.length && s.charCodeAt(i) === 0x23;
}

/**
 * The line-continuation test: the line ends with the escape token plus optional blanks, and
 * that token is not itself escaped (or stands alone). Returns the line without it.
 */
function trimContinuation(line: string, escapeToken: string): { text: string; ends: boolean } {
  let end = line.length;
  while (end > 0 && (line.charCodeAt(end - 1) === 0x20 || line.charCodeAt(end - 1) === 0x09)) end--;
  if (end === 0 || line[end - 1] !== escapeToken) return { text: line, ends: true };
  if (end === 1) return { text: '', ends: false };
  if (line[end - 2] === escapeToken) return { text: line, ends: true };
  return { text: line.slice(0, end - 1), ends: false };
}

/** A logical line's position, for node ranges and error locations. */
interface Span {
  startLine: number;
  startColumn: number;
  endLine: number;
  endColumn: number;
}

function toNode(parts: InstructionParts, range: Span, heredocs: Heredoc[], comments: string[]): SyntaxNode {
  const node: SyntaxNode = {
    keyword: parts.keyword,
    keywordText: parts.keywordText,
    flags: parts.flags,
    args: parts.args,
    json: parts.json,
    heredocs,
    original: parts.original,
    range: { ...range },
    comments,
  };
  // ONBUILD nesting is at most as deep as the line is long; build it bottom-up, without recursion.
  let outer = node;
  for (let p = parts.sub; p; p = p.sub) {
    const sub: SyntaxNode = {
      keyword: p.keyword,
      keywordText: p.keywordText,
      flags: p.flags,
      args: p.args,
      json: p.json,
      heredocs: [],
      original: p.original,
      range: { ...range },
      comments: [],
    };
    outer.sub = sub;
    outer = sub;
  }
  return node;
}

/** BuildKit's `canContainHeredoc`: RUN/COPY/ADD in shell form, directly or under ONBUILD. */
function canContainHeredoc(parts: InstructionParts): boolean {
  const p = parts.keyword === 'onbuild' && parts.sub ? parts.sub : parts;
  return (p.keyword === 'run' || p.keyword === 'copy' || p.keyword === 'add') && !p.json;
}

const HINTS: Partial<Record<DockerfileErrorCode, string>> = {
  E_EMPTY_DOCKERFILE: 'add at least a FROM instruction',
  E_HEREDOC_UNTERMINATED: 'end the heredoc body with a line that holds only its terminator word',
  E_JSON_ARRAY: 'write every element as a "string", or use the shell form',
};

/**
 * Parses Dockerfile text into a syntax tree, as BuildKit's `parser.Parse` does: parser directives,
 * line continuations with the active escape token, comments, heredocs, exec (JSON) versus shell
 * form, flags, and the per-instruction argument split. Nothing is expanded or validated beyond
 * what BuildKit's parser itself rejects; unknown instructions are kept.
 *
 * @throws DockerfileSyntaxError `E_EMPTY_DOCKERFILE`, `E_DIRECTIVE`, `E_HEREDOC_UNTERMINATED`,
 *   `E_JSON_ARRAY`, `E_ARGUMENTS`, `E_EXPANSION` (a heredoc word that cannot be lexed) or
 *   `E_LINE_TOO_LONG`, each with a location and the source text.
 *
 * @example
 * ```ts
 * const tree = parseDockerfile('FROM alpine\nRUN echo hi\n');
 * tree.children[1]; // { keyword: 'run', args: ['echo hi'], range: { startLine: 2, ... }, ... }
 * ```
 */
export function parseDockerfile(text: string, options: ParseOptions = {}): SyntaxTree {
  const file = options.file ?? 'Dockerfile';
  const source = text;
  const input = toWellFormed(text);
  const { raw, tooLongAt } = splitLines(input);
  // Lines without their line ending (and line 1 without a BOM), for columns.
  const shown = (lineNumber: number): string => {
    const s = trimNewline(raw[lineNumber - 1] ?? '');
    return lineNumber === 1 && s.startsWith('\uFEFF') ? s.slice(1) : s;
  };
  const startColumnOf = (lineNumber: number): number => goSpaceEnd(shown(lineNumber)) + 1;
  const endColumnOf = (lineNumber: number): number => Math.max(1, shown(lineNumber).length);

  const fail = (code: DockerfileErrorCode, reason: string, loc: Omit<SourceLocation, 'file'>): never => {
    const hint = HINTS[code];
    throw new DockerfileSyntaxError(code, hint ? `${reason} (${hint})` : reason, { file, ...loc }, { source, data: { reason } });
  };

  const directives = new DirectiveReader();
  const children: SyntaxNode[] = [];
  const warnings: ParseWarning[] = [];
  let comments: string[] = [];
  let currentLine = 0;
  let i = 0;

  /** processLine: newline off, optionally leading whitespace off, directives read, comments dropped. */
  const processLine = (rawLine: string, stripLeft: boolean, lineNumber: number): { text: string; directive: boolean } => {
    let s = trimNewline(rawLine);
    if (stripLeft) s = s.slice(goSpaceEnd(s));
    let directive = false;
    try {
      directive = directives.readLine(s, lineNumber);
    } catch (e) {
      if (e instanceof LineParseError) fail(e.code, e.message, { line: lineNumber, column: 1, endLine: lineNumber, endColumn: endColumnOf(lineNumber) });
      throw e;
    }
    return { text: isComment(s) ? '' : s, directive };
  };

  while (i < raw.length) {
    let bytesRead = raw[i++]!;
    if (currentLine === 0 && bytesRead.startsWith('\uFEFF')) bytesRead = bytesRead.slice(1);
    if (isComment(bytesRead)) {
      // BuildKit drops the first byte, which is `#` only when the comment is not indented.
      const comment = goTrimSpace(bytesRead.slice(1));
      if (comment === '') comments = [];
      else comments.push(comment);
    }
    const first = processLine(bytesRead, true, currentLine + 1);
    if (first.directive) comments.pop();
    currentLine++;

    const startLine = currentLine;
    let { text, ends } = trimContinuation(first.text, directives.escapeToken);
    if (ends && text.length === 0) continue;
    const firstPieceLength = text.length;
    let line = text;
    let hasEmptyContinuationLine = false;
    while (!ends && i < raw.length) {
      const rawLine = raw[i++]!;
      const next = processLine(rawLine, false, currentLine + 1);
      currentLine++;
      if (isComment(rawLine)) continue;
      if (goSpaceEnd(next.text) === next.text.length) {
        hasEmptyContinuationLine = true;
        continue;
      }
      ({ text, ends } = trimContinuation(next.text, directives.escapeToken));
      line += text;
    }

    if (hasEmptyContinuationLine) warnings.push({ message: `Empty continuation line found in: ${line}`, line: currentLine });

    const span: Span = { startLine, startColumn: startColumnOf(startLine), endLine: currentLine, endColumn: endColumnOf(currentLine) };
    const spanLoc = (): Omit<SourceLocation, 'file'> => ({ line: span.startLine, column: span.startColumn, endLine: span.endLine, endColumn: span.endColumn });
    let parts: InstructionParts;
    try {
      parts = partsFromLine(line, directives.escapeToken);
    } catch (e) {
      if (e instanceof LineParseError) fail(e.code, e.message, spanLoc());
      throw e;
    }

    const heredocs: Heredoc[] = [];
    if (canContainHeredoc(parts) && line.includes('<<')) {
      let starts;
      try {
        starts = heredocsFromLine(line);
      } catch (e) {
        if (e instanceof HeredocWordError) fail('E_EXPANSION', e.message, spanLoc());
        throw e;
      }
      let searchFrom = 0;
      for (const h of starts) {
        let terminated = false;
        let content = '';
        while (i < raw.length) {
          const body = raw[i++]!;
          currentLine++;
          let candidate = trimNewline(body);
          if (h.chomp) candidate = candidate.replace(/^\t+/, '');
          if (candidate === h.name) {
            terminated = true;
            break;
          }
          content += body;
        }
        const at = line.indexOf(h.word, searchFrom);
        if (at >= 0) searchFrom = at + h.word.length;
        if (!terminated) {
          // Point at the `<<WORD` when it sits on the first line, else at the instruction.
          const column = at >= 0 && at + h.word.length <= firstPieceLength ? span.startColumn + at : span.startColumn;
          fail('E_HEREDOC_UNTERMINATED', 'unterminated heredoc', { line: startLine, column, endLine: Math.max(currentLine, startLine), endColumn: endColumnOf(Math.max(currentLine, startLine)) });
        }
        heredocs.push({ name: h.name, fileDescriptor: h.fileDescriptor, expand: h.expand, chomp: h.chomp, content });
      }
      span.endLine = currentLine;
      span.endColumn = endColumnOf(currentLine);
    }

    children.push(toNode(parts, span, heredocs, comments));
    comments = [];
  }

  if (children.length === 0) {
    const line = Math.max(1, currentLine);
    fail('E_EMPTY_DOCKERFILE', 'file with no instructions', { line, column: 1, endLine: line, endColumn: endColumnOf(line) });
  }
  if (tooLongAt !== undefined) {
    fail('E_LINE_TOO_LONG', `dockerfile line greater than max allowed size of ${MAX_LINE_BYTES - 1}`, { line: tooLongAt, column: 1, endLine: tooLongAt, endColumn: 1 });
  }
  const firstChild = children[0]!;
  const lastChild = children[children.length - 1]!;
  return {
    file,
    escapeToken: directives.escapeToken,
    directives: directives.directives,
    children,
    warnings,
    range: { startLine: firstChild.range.startLine, startColumn: firstChild.range.startColumn, endLine: lastChild.range.endLine, endColumn: lastChild.range.endColumn },
  };
}
