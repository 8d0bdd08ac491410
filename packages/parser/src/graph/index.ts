export type * from './types.js';
export { createBuildGraph, listBaseImages } from './build.js';
export { normalizeImageReference } from './reference.js';
export { parsePorts } from './ports.js';
export { parseSignal } from './signal.js';
export { parsePlatform, normalizePlatform, formatPlatform, formatPlatformAll, type Platform } from '../platform.js';
