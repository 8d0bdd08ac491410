export { readOciLayout, importOciLayoutBlobs, layoutBlobPath, type ReadOciLayoutOptions, type OciLayoutImage } from './read.js';
export { OciLayoutError, type OciLayoutErrorCode } from './errors.js';
