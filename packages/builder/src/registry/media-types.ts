/** What this client asks registries for. Media types themselves live in image/mediaTypes.ts. */
import { MediaType } from '../image/mediaTypes.js';

export { MediaType, isIndexMediaType, isManifestMediaType } from '../image/mediaTypes.js';

/** Accept header for manifest requests, most preferred first (what BuildKit/containerd send). */
export const MANIFEST_ACCEPT = [
  MediaType.OciIndex,
  MediaType.DockerManifestList,
  MediaType.OciManifest,
  MediaType.DockerManifest,
  '*/*;q=0.8',
].join(', ');
