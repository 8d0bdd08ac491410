/**
 * Encoding of tar headers the way Go's archive/tar writes them in PAX format (what BuildKit and
 * containerd emit): a plain USTAR block when every field fits, preceded by a PAX extended header
 * only for what does not (long or non-ASCII names, big ids/sizes, xattrs).
 *
 * Why not tar-stream's packer: it writes PAX values as UTF-8 text, which corrupts binary xattr
 * values (e.g. `security.capability`), cannot emit a PAX header for xattrs alone, and substitutes
 * the current time for a missing mtime. Reading still uses tar-stream.
 */
import { LayerError } from './errors.js';

export type TarEntryType = 'file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo';

/** A tar entry header as the layer writer takes it. */
export interface TarHeader {
  /** Path inside the layer, `/`-separated, relative (a leading `/` or `./` is removed). */
  name: string;
  type: TarEntryType;
  /** Permission bits including setuid/setgid/sticky (`0o7777` mask). */
  mode: number;
  uid?: number;
  gid?: number;
  /** Body length for `file` entries; 0 for everything else. */
  size?: number;
  /** Seconds since the epoch (fractions are truncated), or a Date. Defaults to 0. */
  mtime?: number | Date;
  /** Symlink target, or the name of the entry a hardlink points to. */
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes, written as PAX `SCHILY.xattr.<name>` records. */
  xattrs?: Record<string, Uint8Array | string>;
}

const TYPEFLAG: Record<TarEntryType, string> = {
  file: '0',
  link: '1',
  symlink: '2',
  'character-device': '3',
  'block-device': '4',
  directory: '5',
  fifo: '6',
};

const MAX_OCTAL_7 = 0o7777777;
const MAX_OCTAL_11 = 0o77777777777;

function isAscii(s: string): boolean {
  return /^[\x00-\x7f]*$/.test(s);
}

/** Writes `value` as zero-padded octal in a field of `width` bytes (last byte NUL). */
function writeOctal(block: Buffer, offset: number, width: number, value: number): void {
  const digits = value.toString(8).padStart(width - 1, '0');
  block.write(digits, offset, width - 1, 'ascii');
  block[offset + width - 1] = 0;
}

/** Splits a long name into USTAR prefix/name at a `/`, as Go's splitUSTARPath does. */
function splitUstar(name: string): { prefix: string; name: string } | undefined {
  if (name.length <= 100) return { prefix: '', name };
  let length = name.length;
  if (length > 156) length = 156;
  else if (name[length - 1] === '/') length--;
  const i = name.slice(0, length).lastIndexOf('/');
  const nlen = name.length - i - 1;
  if (i <= 0 || nlen > 100 || nlen === 0 || i > 155) return undefined;
  return { prefix: name.slice(0, i), name: name.slice(i + 1) };
}

function paxRecord(key: string, value: Uint8Array | string): Buffer {
  const v = typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value);
  const base = Buffer.byteLength(key, 'utf8') + v.length + 3; // ' ', '=', '\n'
  let len = base + String(base).length;
  if (String(len).length !== String(base).length) len = base + String(len).length;
  return Buffer.concat([Buffer.from(`${len} ${key}=`, 'utf8'), v, Buffer.from('\n')]);
}

function ustarBlock(fields: {
  name: string;
  prefix: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname: string;
  devmajor: number;
  devminor: number;
}): Buffer {
  const block = Buffer.alloc(512);
  block.write(fields.name, 0, 100, 'utf8');
  writeOctal(block, 100, 8, fields.mode);
  writeOctal(block, 108, 8, fields.uid);
  writeOctal(block, 116, 8, fields.gid);
  writeOctal(block, 124, 12, fields.size);
  writeOctal(block, 136, 12, fields.mtime);
  block.write(fields.typeflag, 156, 1, 'ascii');
  block.write(fields.linkname, 157, 100, 'utf8');
  block.write('ustar\x0000', 257, 8, 'ascii');
  writeOctal(block, 329, 8, fields.devmajor);
  writeOctal(block, 337, 8, fields.devminor);
  block.write(fields.prefix, 345, 155, 'utf8');
  // Checksum: sum of all bytes with the checksum field taken as spaces; written "%06o\0 ".
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block) sum += b;
  block.write(sum.toString(8).padStart(6, '0'), 148, 6, 'ascii');
  block[154] = 0;
  block[155] = 0x20;
  return block;
}

/** Zero bytes that pad a body of `size` bytes to a 512-byte boundary. */
export function tarPadding(size: number): Buffer {
  const rem = size % 512;
  return rem === 0 ? Buffer.alloc(0) : Buffer.alloc(512 - rem);
}

/** Normalized entry name: relative, `/`-separated, directories with a trailing `/`. */
export function normalizeEntryName(name: string, type: TarEntryType): string {
  let n = name.replace(/^(\.\/|\/)+/, '');
  n = n.replace(/\/+$/, '');
  if (n === '' || n === '.') {
    throw new LayerError('E_LAYER_INVALID_ENTRY', `Tar entry name "${name}" names the layer root; the root is not an entry of a layer.`, { data: { name } });
  }
  if (n.split('/').some((c) => c === '..' || c === '.' || c === '')) {
    throw new LayerError('E_LAYER_INVALID_ENTRY', `Tar entry name "${name}" has an empty, "." or ".." component; give a clean relative path.`, { data: { name } });
  }
  return type === 'directory' ? `${n}/` : n;
}

/** Seconds since the epoch, truncated. */
export function toSeconds(mtime: number | Date | undefined): number {
  if (mtime === undefined) return 0;
  const s = mtime instanceof Date ? mtime.getTime() / 1000 : mtime;
  return Math.floor(s);
}

/**
 * The header blocks (an optional PAX header plus the USTAR block) for one entry. `header.name`
 * must already be normalized with {@link normalizeEntryName}.
 */
export function encodeTarHeader(header: TarHeader): Buffer {
  const pax: Array<[string, Uint8Array | string]> = [];
  const type = header.type;
  const size = type === 'file' ? (header.size ?? 0) : 0;
  const uid = header.uid ?? 0;
  const gid = header.gid ?? 0;
  const mtime = toSeconds(header.mtime);
  const linkname = header.linkname ?? '';

  let ustarName = '';
  let prefix = '';
  const split = isAscii(header.name) ? splitUstar(header.name) : undefined;
  if (split) {
    ustarName = split.name;
    prefix = split.prefix;
  } else {
    pax.push(['path', header.name]);
    ustarName = Buffer.from(header.name, 'utf8').subarray(0, 100).toString('latin1').replace(/[^\x00-\x7f]/g, '_');
  }
  let ustarLink = linkname;
  if (!isAscii(linkname) || linkname.length > 100) {
    pax.push(['linkpath', linkname]);
    ustarLink = linkname.slice(0, 100).replace(/[^\x00-\x7f]/g, '_');
  }
  const fit = (key: string, value: number, max: number): number => {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new LayerError('E_LAYER_INVALID_ENTRY', `Tar entry "${header.name}" has an invalid ${key} ${value}.`, { data: { name: header.name, [key]: value } });
    }
    if (value <= max) return value;
    pax.push([key, String(value)]);
    return 0;
  };
  const fUid = fit('uid', uid, MAX_OCTAL_7);
  const fGid = fit('gid', gid, MAX_OCTAL_7);
  const fSize = fit('size', size, MAX_OCTAL_11);
  let fMtime = mtime;
  if (mtime < 0 || mtime > MAX_OCTAL_11) {
    pax.push(['mtime', String(mtime)]);
    fMtime = 0;
  }
  const devmajor = header.devmajor ?? 0;
  const devminor = header.devminor ?? 0;
  if (devmajor > MAX_OCTAL_7 || devminor > MAX_OCTAL_7) {
    throw new LayerError('E_LAYER_INVALID_ENTRY', `Device numbers ${devmajor}:${devminor} of "${header.name}" do not fit a tar header.`, { data: { name: header.name } });
  }
  for (const [k, v] of Object.entries(header.xattrs ?? {})) pax.push([`SCHILY.xattr.${k}`, v]);

  const block = ustarBlock({
    name: ustarName,
    prefix,
    mode: header.mode & 0o7777,
    uid: fUid,
    gid: fGid,
    size: fSize,
    mtime: fMtime,
    typeflag: TYPEFLAG[type],
    linkname: ustarLink,
    devmajor,
    devminor,
  });
  if (pax.length === 0) return block;

  // Go sorts PAX records by key; the same order makes our bytes independent of insertion order.
  pax.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const body = Buffer.concat(pax.map(([k, v]) => paxRecord(k, v)));
  const base = header.name.replace(/\/$/, '').split('/').pop() ?? '';
  const dir = header.name.replace(/\/$/, '').split('/').slice(0, -1).join('/');
  let paxName = (dir ? `${dir}/PaxHeaders.0/${base}` : `PaxHeaders.0/${base}`).replace(/[^\x00-\x7f]/g, '_');
  if (paxName.length > 100) paxName = paxName.slice(0, 100);
  const paxBlock = ustarBlock({
    name: paxName,
    prefix: '',
    mode: 0,
    uid: 0,
    gid: 0,
    size: body.length,
    mtime: 0,
    typeflag: 'x',
    linkname: '',
    devmajor: 0,
    devminor: 0,
  });
  return Buffer.concat([paxBlock, body, tarPadding(body.length), block]);
}

/** The end-of-archive marker: two zero blocks. */
export const TAR_END = Buffer.alloc(1024);
