export { readOciLayout, importOciLayoutBlobs, layoutBlobPath, type ReadOciLayoutOptions, type OciLayoutImage } from './read.js';
export { platformMatches, formatPlatform, hostPlatform } from './platform.js';
export { OciLayoutError, type OciLayoutErrorCode } from './errors.js';
