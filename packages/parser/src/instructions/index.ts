export type * from './types.js';
export { parseInstruction, parseInstructions, parseHeredocWord, chompHeredocContent, nodeLocation, INSTRUCTION_NAMES } from './parse.js';
export { parseMountSpec, resolveMount, splitCsv, ramInBytes, parseGoBool, MountError } from './mount.js';
export { parseChmod, ChmodError } from './chmod.js';
export { parseGoDuration, DurationError } from './duration.js';
