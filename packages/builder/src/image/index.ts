export * from './mediaTypes.js';
export type * from './types.js';
export { canonicalJson, canonicalJsonBytes, putJson, getJson, sha256Digest, parseDigest, isDigest, digestHex } from './json.js';
export { putImage, type PutImageOptions } from './commit.js';
