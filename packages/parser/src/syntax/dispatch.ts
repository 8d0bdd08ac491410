/**
 * BuildKit's dispatch table (`line_parsers.go`): how each instruction's arguments are split
 * once the keyword and the flags are off the logical line.
 */
import type { DockerfileErrorCode } from '../errors.js';
import { decodeUtf8, encodeUtf8, goQuote, goToLower } from './gotext.js';
import { parseJsonArray } from './json-array.js';
import { parseWords, splitCommand, splitWhitespace, splitWhitespaceOnce } from './words.js';

/** A line-parser failure; the caller adds the location. */
export class LineParseError extends Error {
  constructor(
    readonly code: DockerfileErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** What one logical line parses to, before line numbers and heredoc bodies are attached. */
export interface InstructionParts {
  keyword: string;
  keywordText: string;
  flags: string[];
  args: string[];
  json: boolean;
  sub?: InstructionParts;
  original: string;
}

interface Split {
  args: string[];
  json: boolean;
}

const SHELL: Split = { args: [], json: false };

function notStringsError(): LineParseError {
  return new LineParseError('E_JSON_ARRAY', 'when using JSON array syntax, arrays must be comprised of strings only');
}

/** RUN, CMD, ENTRYPOINT, SHELL: a JSON array of strings, else the whole rest as one argument. */
function parseMaybeJson(rest: string): Split {
  if (rest === '') return SHELL;
  const j = parseJsonArray(rest);
  if (j.kind === 'strings') return { args: j.values, json: true };
  if (j.kind === 'not-strings') throw notStringsError();
  return { args: [rest], json: false };
}

/** FROM, EXPOSE (and the shell form of ADD, COPY, VOLUME): split on runs of ASCII blanks. */
function parseStringsWhitespaceDelimited(rest: string): Split {
  if (rest === '') return SHELL;
  return { args: splitWhitespace(rest), json: false };
}

/** ADD, COPY, VOLUME: a JSON array of strings, else whitespace-separated words. */
function parseMaybeJsonToList(rest: string): Split {
  const j = parseJsonArray(rest);
  if (j.kind === 'strings') return { args: j.values, json: true };
  if (j.kind === 'not-strings') throw notStringsError();
  return parseStringsWhitespaceDelimited(rest);
}

/** MAINTAINER, USER, WORKDIR, STOPSIGNAL: the whole rest. */
function parseString(rest: string): Split {
  return rest === '' ? SHELL : { args: [rest], json: false };
}

/**
 * ENV and LABEL. Old form `KEY name value` (first word has no `=`): name and the verbatim rest.
 * New form `KEY a=b c="d e"`: every word must contain `=`. Both give `key, value, separator` triples.
 */
function parseNameVal(rest: string, key: 'ENV' | 'LABEL', escapeToken: string): Split {
  const words = parseWords(rest, escapeToken);
  if (words.length === 0) return SHELL;
  if (!words[0]!.includes('=')) {
    const parts = splitWhitespaceOnce(rest);
    if (parts.length < 2) throw new LineParseError('E_ARGUMENTS', `${key} must have two arguments`);
    return { args: [parts[0], parts[1]!, ''], json: false };
  }
  const args: string[] = [];
  for (const word of words) {
    const eq = word.indexOf('=');
    if (eq < 0) throw new LineParseError('E_ARGUMENTS', `Syntax error - can't find = in ${goQuote(word)}. Must be of the form: name=value`);
    args.push(word.slice(0, eq), word.slice(eq + 1), '=');
  }
  return { args, json: false };
}


/**
 * HEALTHCHECK: the first word (CMD, NONE, anything) then the rest as for CMD. BuildKit finds the
 * first word by testing bytes, so the UTF-8 continuation bytes 0x85 and 0xA0 also end it.
 */
function parseHealthConfig(rest: string): Split {
  let typ: string;
  let tail: string;
  const ascii = /^[\x00-\x7f]*$/.test(rest);
  if (ascii) {
    const m = /[\t\n\v\f\r ]/.exec(rest);
    const sep = m ? m.index : rest.length;
    let next = sep;
    while (next < rest.length && /[\t\n\v\f\r ]/.test(rest[next]!)) next++;
    if (sep === 0) return SHELL;
    typ = rest.slice(0, sep);
    tail = rest.slice(next);
  } else {
    const b = encodeUtf8(rest);
    const isSpace = (x: number): boolean => x === 0x20 || (x >= 0x09 && x <= 0x0d) || x === 0x85 || x === 0xa0;
    let sepByte = 0;
    while (sepByte < b.length && !isSpace(b[sepByte]!)) sepByte++;
    let nextByte = sepByte;
    while (nextByte < b.length && isSpace(b[nextByte]!)) nextByte++;
    if (sepByte === 0) return SHELL;
    typ = decodeUtf8(b.subarray(0, sepByte));
    tail = decodeUtf8(b.subarray(nextByte));
  }
  const cmd = parseMaybeJson(tail);
  return { args: [typ, ...cmd.args], json: cmd.json };
}

function dispatch(keyword: string, rest: string, escapeToken: string): Split {
  switch (keyword) {
    case 'add':
    case 'copy':
    case 'volume':
      return parseMaybeJsonToList(rest);
    case 'arg':
      return { args: parseWords(rest, escapeToken), json: false };
    case 'cmd':
    case 'entrypoint':
    case 'run':
    case 'shell':
      return parseMaybeJson(rest);
    case 'env':
      return parseNameVal(rest, 'ENV', escapeToken);
    case 'label':
      return parseNameVal(rest, 'LABEL', escapeToken);
    case 'expose':
    case 'from':
      return parseStringsWhitespaceDelimited(rest);
    case 'healthcheck':
      return parseHealthConfig(rest);
    case 'maintainer':
    case 'stopsignal':
    case 'user':
    case 'workdir':
      return parseString(rest);
    default:
      // Unknown instructions keep one empty argument (BuildKit's parseIgnore); the typed layer rejects them.
      return { args: [''], json: false };
  }
}

/**
 * BuildKit's `newNodeFromLine`: keyword, flags and arguments of one logical line. ONBUILD nests
 * the rest as a complete instruction; the chain is built in a loop so that `ONBUILD ONBUILD …`
 * cannot exhaust the stack.
 *
 * @throws LineParseError for ENV/LABEL shape errors and JSON arrays with non-string elements.
 */
export function partsFromLine(line: string, escapeToken: string): InstructionParts {
  const chain: { parts: InstructionParts; rest: string }[] = [];
  let current = line;
  for (;;) {
    const { cmd, flags, args: rest } = splitCommand(current, escapeToken);
    const keyword = goToLower(cmd);
    const parts: InstructionParts = { keyword, keywordText: cmd, flags, args: [], json: false, original: current };
    chain.push({ parts, rest });
    if (keyword !== 'onbuild') {
      const split = dispatch(keyword, rest, escapeToken);
      parts.args = split.args;
      parts.json = split.json;
      break;
    }
    if (rest === '') break;
    current = rest;
  }
  for (let i = chain.length - 2; i >= 0; i--) chain[i]!.parts.sub = chain[i + 1]!.parts;
  return chain[0]!.parts;
}
