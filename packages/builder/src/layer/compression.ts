/**
 * Decompression by sniffing magic bytes, never by trusting a media type (registries mislabel, and
 * Docker's `tar.gzip` media type is used for plain tars in the wild).
 */
import { spawn } from 'node:child_process';
import { Duplex, Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import { LayerError } from './errors.js';

export type Compression = 'gzip' | 'zstd' | 'none';

/** Compression of a blob from its first bytes. */
export function detectCompression(head: Uint8Array): Compression | 'bzip2' | 'xz' {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  if (head.length >= 3 && head[0] === 0x42 && head[1] === 0x5a && head[2] === 0x68) return 'bzip2';
  if (head.length >= 6 && head[0] === 0xfd && head[1] === 0x37 && head[2] === 0x7a && head[3] === 0x58 && head[4] === 0x5a && head[5] === 0x00) return 'xz';
  return 'none';
}

async function* prepend(head: Buffer, rest: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  if (head.length > 0) yield head;
  for (;;) {
    const r = await rest.next();
    if (r.done) return;
    yield r.value;
  }
}

function zstdDecompressor(): NodeJS.ReadWriteStream {
  const native = (zlib as unknown as { createZstdDecompress?: () => NodeJS.ReadWriteStream }).createZstdDecompress;
  if (typeof native === 'function') return native();
  // Node < 22.15 has no zstd; the zstd CLI streams just as well, with backpressure through its pipes.
  const child = spawn('zstd', ['-d', '-c', '-q'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const duplex = new Duplex({
    write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void) {
      if (child.stdin.write(chunk)) cb();
      else child.stdin.once('drain', () => cb());
    },
    final(cb: (err?: Error | null) => void) {
      child.stdin.end(cb);
    },
    read() {
      child.stdout.resume();
    },
    destroy(err: Error | null, cb: (err: Error | null) => void) {
      child.kill();
      cb(err);
    },
  });
  child.stdout.on('data', (d: Buffer) => {
    if (!duplex.push(d)) child.stdout.pause();
  });
  child.stdout.on('end', () => duplex.push(null));
  child.on('error', (err: NodeJS.ErrnoException) => {
    duplex.destroy(
      err.code === 'ENOENT'
        ? new LayerError('E_LAYER_COMPRESSION_UNSUPPORTED', 'This layer is zstd-compressed, and this Node has no zstd support (Node >= 22.15 has) and no `zstd` program is installed. Install zstd (apt-get install zstd) or use Node >= 22.15.')
        : err,
    );
  });
  child.on('close', (code) => {
    if (code !== 0 && code !== null) duplex.destroy(new LayerError('E_LAYER_CORRUPT', `zstd exited with status ${code}: the layer is not valid zstd data.`));
  });
  return duplex;
}

/**
 * The uncompressed tar stream of a layer blob, whatever its compression.
 *
 * @example
 * const tar = await decompressedStream(store.get(layer.digest))
 */
export async function decompressedStream(blob: Readable | AsyncIterable<Uint8Array>): Promise<Readable> {
  const source = blob instanceof Readable ? blob : Readable.from(blob);
  const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const chunks: Buffer[] = [];
  let len = 0;
  while (len < 6) {
    const r = await it.next();
    if (r.done) break;
    const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    chunks.push(b);
    len += b.length;
  }
  const head = Buffer.concat(chunks);
  const kind = detectCompression(head);
  const raw = Readable.from(prepend(head, it), { objectMode: false });
  switch (kind) {
    case 'none':
      return raw;
    case 'gzip':
      return chain(raw, zlib.createGunzip());
    case 'zstd':
      return chain(raw, zstdDecompressor());
    default:
      throw new LayerError('E_LAYER_COMPRESSION_UNSUPPORTED', `This layer is ${kind}-compressed; OCI layers are tar, tar+gzip or tar+zstd.`, { data: { compression: kind } });
  }
}

/** `src` piped into `transform`, with errors of either surfacing on the returned stream. */
function chain(src: Readable, transform: NodeJS.ReadWriteStream): Readable {
  const out = transform as unknown as Readable;
  src.on('error', (err) => out.destroy(err));
  out.on('close', () => {
    if (!src.destroyed) src.destroy();
  });
  src.pipe(transform as unknown as NodeJS.WritableStream);
  return out;
}
