import type { Digest } from '@build-image/cache';

export type { Platform, ImageManifest, ImageIndex } from '../image/types.js';

/** The part of an image config this module reads; the rest passes through untouched. */
export interface ImageConfig {
  architecture?: string;
  os?: string;
  variant?: string;
  rootfs?: { type: string; diff_ids: Digest[] };
  [key: string]: unknown;
}
