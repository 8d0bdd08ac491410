/**
 * The bundle cannot contain @napi-rs/xattr's native binary, so the binaries ship next to it
 * (action/dist/xattr.linux-<arch>-gnu.node) and the loader is pointed at the right one before
 * any module requires it (this module is imported first).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

const file = path.join(__dirname, `xattr.linux-${process.arch}-gnu.node`);
if (!process.env.NAPI_RS_NATIVE_LIBRARY_PATH && existsSync(file)) process.env.NAPI_RS_NATIVE_LIBRARY_PATH = file;
