/**
 * gzip that does not spend deflate's effort on data it cannot shrink.
 *
 * Deflate costs ~20 ms per MiB of random-looking data at any level from 1 to 9 (measured with
 * Node's zlib on this machine) and saves nothing on it: already-compressed files (archives,
 * images, wheels, jars) and random bytes end up in stored blocks anyway. Layers are full of such
 * files. So the stream is cut into fixed 64 KiB segments of the uncompressed tar; a segment whose
 * byte entropy is above 7.95 bits per byte is written at level 0 (stored blocks, ~1 ms per MiB),
 * any other at the requested level. One raw deflate stream carries everything, so the 32 KiB
 * window survives level changes and compressible data compresses as before. The gzip framing
 * (RFC 1952 header, CRC-32, size) is written here: Node's zlib ignores params() on gzip streams
 * (measured: a level change there has no effect), only deflate and raw deflate honour it.
 *
 * The output is deterministic: segment boundaries are fixed offsets of the input, the choice
 * depends on the segment's bytes only, and zlib's output buffer has a fixed size. (A level change is a sync flush, a few bytes, at the
 * boundary.) The rule can miss data that repeats long runs of random-looking bytes, which
 * deflate could have shortened by matching: such a segment is stored, never corrupted.
 */
import { once } from 'node:events';
import { Readable } from 'node:stream';
import * as zlib from 'node:zlib';

/** Size of the uncompressed segments whose compressibility is judged one by one. */
export const SEGMENT_BYTES = 64 * 1024;

/** Bits per byte above which a segment is stored: a Huffman code could save at most ~0.6 %. */
const STORE_ABOVE_BITS = 7.95;

/**
 * Shannon entropy of the byte values of `buf` (of every `stride`-th byte), in bits per byte (0
 * for constant data, 8 for uniformly random data).
 *
 * @example
 * ```ts
 * byteEntropy(Buffer.alloc(1024)) // 0
 * byteEntropy(randomBytes(65536)) // ≈ 7.997
 * byteEntropy(randomBytes(65536), 3) // ≈ 7.99 (every third byte)
 * ```
 */
export function byteEntropy(buf: Uint8Array, stride = 1): number {
  if (buf.length === 0) return 0;
  const counts = new Uint32Array(256);
  let n = 0;
  for (let i = 0; i < buf.length; i += stride, n++) counts[buf[i]!]!++;
  let bits = 0;
  for (let v = 0; v < 256; v++) {
    const c = counts[v]!;
    if (c === 0) continue;
    const p = c / n;
    bits -= p * Math.log2(p);
  }
  return bits;
}

/**
 * Every third byte of a segment (~21,800 samples) estimates its entropy within ~0.02 bits at a
 * third of the cost (1.7 → 0.6 ms per MiB on the main thread); 3 is coprime to the 2-, 4- and
 * 8-byte strides of binary data, so an aligned pattern is not sampled in one phase only.
 */
const SAMPLE_STRIDE = 3;

/** Re-chunks `source` into buffers of exactly `size` bytes (the last may be shorter). */
async function* segments(source: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let length = 0;
  for await (const chunk of source) {
    let rest = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    while (rest.length > 0) {
      const take = Math.min(size - length, rest.length);
      parts.push(rest.subarray(0, take));
      length += take;
      rest = rest.subarray(take);
      if (length === size) {
        yield parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
        parts = [];
        length = 0;
      }
    }
  }
  if (length > 0) yield Buffer.concat(parts, length);
}

/**
 * A pipeline stage: bytes in, gzip out, stored blocks for incompressible segments. `level` 0
 * stores everything; 1–9 is the level for compressible segments.
 *
 * @example
 * ```ts
 * await pipeline(tarBytes, adaptiveGzip(6), fs.createWriteStream('layer.tar.gz'))
 * ```
 */
export function adaptiveGzip(level: number): (source: AsyncIterable<Uint8Array>) => AsyncGenerator<Buffer> {
  const crc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;
  // zlib.crc32 arrived in Node 20.15; before it, plain gzip (no stored-block shortcut).
  if (typeof crc32 !== 'function') return plainGzip(level);
  return async function* gzipStage(source) {
    const strategy = zlib.constants.Z_DEFAULT_STRATEGY;
    // 256 KiB output chunks (zlib's default is 16 KiB): each chunk is one awaited write into the
    // store downstream, and 64 of them per MiB cost ~6 ms of CPU per MiB in round trips alone.
    // Part of the format: zlib sizes stored blocks by the output space it has, so another value
    // gives other (equally valid) bytes and so other layer digests for the same files.
    const z = zlib.createDeflateRaw({ level, memLevel: 8, strategy, chunkSize: 256 * 1024 });
    const output: Buffer[] = [];
    let failure: Error | undefined;
    z.on('data', (c: Buffer) => output.push(c));
    z.on('error', (e: Error) => (failure ??= e));
    // Backpressure, not a round trip per segment: wait only when zlib's buffer is full.
    const write = async (b: Buffer) => {
      if (!z.write(b)) await once(z, 'drain');
    };
    const setLevel = (l: number) => new Promise<void>((resolve) => z.params(l, strategy, () => resolve()));
    let current = level;
    let crc = 0;
    let size = 0;
    let ended = false;
    try {
      // RFC 1952 header as Node writes it: deflate, no flags, mtime 0, OS 3 (Unix).
      yield Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0x03]);
      for await (const segment of segments(source, SEGMENT_BYTES)) {
        crc = crc32(segment, crc);
        size = (size + segment.length) >>> 0;
        if (level > 0) {
          const wanted = byteEntropy(segment, SAMPLE_STRIDE) > STORE_ABOVE_BITS ? 0 : level;
          if (wanted !== current) {
            await setLevel(wanted);
            current = wanted;
          }
        }
        await write(segment);
        if (failure) throw failure;
        while (output.length > 0) yield output.shift()!;
      }
      const done = once(z, 'end');
      z.end();
      await done;
      ended = true;
      if (failure) throw failure;
      while (output.length > 0) yield output.shift()!;
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(crc >>> 0, 0);
      trailer.writeUInt32LE(size, 4);
      yield trailer;
    } finally {
      if (!ended) z.destroy();
    }
  };
}

/** Node's own gzip at `level`, as a pipeline stage. */
function plainGzip(level: number): (source: AsyncIterable<Uint8Array>) => AsyncGenerator<Buffer> {
  return async function* gzipStage(source) {
    const z = zlib.createGzip({ level, memLevel: 8, strategy: zlib.constants.Z_DEFAULT_STRATEGY });
    const fed = Readable.from(source).pipe(z);
    for await (const chunk of fed) yield chunk as Buffer;
  };
}
