export type * from './types.js';
export { parseDockerfile } from './parse.js';
export { dumpNode, dumpTree } from './dump.js';
