export { exportOciLayout, imageBlobs, indexDescriptors, type ExportOptions } from './ociLayout.js';
export { exportOciTar, exportDockerTar, toDockerImage, type ExportTarOptions, type DockerArchiveManifestEntry } from './ociTar.js';
export { exportRootfs } from './rootfs.js';
export { exportRootfsTar } from './rootfsTar.js';
export { parseExportNames, type ExportName } from './names.js';
export { ExportError, type ExportErrorCode } from './errors.js';
