/**
 * The layer compressor: valid gzip (checked by GNU gzip, not only by the zlib that wrote it),
 * identical bytes however the input is chunked, stored blocks for random data (so it costs
 * ~nothing) and unchanged compression for compressible data.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { adaptiveGzip, byteEntropy, SEGMENT_BYTES } from '../src/layer/adaptive-gzip.js';

async function compress(chunks: Buffer[], level = 6): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(Readable.from(chunks), adaptiveGzip(level), async (source: AsyncIterable<Buffer>) => {
    for await (const c of source) out.push(c);
  });
  return Buffer.concat(out);
}

/** Decompressed by GNU gzip: an independent implementation. */
function gunzipCli(data: Buffer): Buffer {
  return execFileSync('gzip', ['-dc'], { input: data, maxBuffer: 64 * 1024 * 1024 });
}

function chunked(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size));
  return out;
}

/** Deterministic text-like data (a pseudo-random walk over a small vocabulary). */
function text(bytes: number): Buffer {
  const words = ['layer', 'image', 'build', 'cache', 'tar', 'digest', 'runc', 'overlay', 'the', 'a', 'of'];
  let x = 12345;
  const parts: string[] = [];
  let n = 0;
  while (n < bytes) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const w = words[x % words.length]! + (x % 7 === 0 ? '\n' : ' ');
    parts.push(w);
    n += w.length;
  }
  return Buffer.from(parts.join('').slice(0, bytes));
}

describe('byteEntropy', () => {
  it('is 0 for constant data, 1 for two equally frequent values, about 8 for random bytes', () => {
    expect(byteEntropy(Buffer.alloc(4096, 7))).toBe(0);
    expect(byteEntropy(Buffer.from([0, 1, 0, 1, 1, 0]))).toBeCloseTo(1, 10);
    expect(byteEntropy(randomBytes(SEGMENT_BYTES))).toBeGreaterThan(7.99);
    expect(byteEntropy(text(SEGMENT_BYTES))).toBeLessThan(5);
    expect(byteEntropy(Buffer.alloc(0))).toBe(0);
    // The sampled estimate the compressor uses (every third byte) still tells random from not.
    for (let i = 0; i < 20; i++) expect(byteEntropy(randomBytes(SEGMENT_BYTES), 3)).toBeGreaterThan(7.96);
    expect(byteEntropy(text(SEGMENT_BYTES), 3)).toBeLessThan(5);
  });
});

describe('adaptiveGzip', () => {
  const mixed = Buffer.concat([text(300_000), randomBytes(700_000), text(150_000), Buffer.alloc(90_000), randomBytes(1234)]);

  it('writes gzip that GNU gzip decompresses to the input, for empty, random, text and mixed data', async () => {
    for (const input of [Buffer.alloc(0), randomBytes(1000), randomBytes(3 * SEGMENT_BYTES + 17), text(500_000), mixed]) {
      const gz = await compress(chunked(input, 10_000));
      expect(gz.subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
      expect(gunzipCli(gz).equals(input)).toBe(true);
    }
  });

  it('gives the same bytes however the input is chunked', async () => {
    const reference = await compress([mixed]);
    for (const size of [1, 4096, 65_535, 65_537, 200_000]) {
      const input = size === 1 ? chunked(mixed.subarray(0, 70_000), 1) : chunked(mixed, size);
      const expected = size === 1 ? await compress([mixed.subarray(0, 70_000)]) : reference;
      expect((await compress(input)).equals(expected)).toBe(true);
    }
  });

  it('stores random data (no bigger than the input plus framing) and compresses text as well as plain gzip', async () => {
    const random = randomBytes(1 << 20);
    const stored = await compress([random]);
    // Stored blocks: a few bytes of framing per 64 KiB, plus the gzip header and trailer.
    expect(stored.length).toBeLessThan(random.length * 1.001);
    const t = text(1 << 20);
    const ours = await compress([t]);
    const plain = gzipSync(t, { level: 6 });
    expect(ours.length).toBeLessThan(plain.length * 1.01);
    // Mixed: the text parts are still compressed (not everything stored because of the random part).
    const m = await compress([mixed]);
    expect(m.length).toBeLessThan(gzipSync(mixed, { level: 6 }).length * 1.01);
  });

  it('level 0 stores everything', async () => {
    const t = text(200_000);
    const gz = await compress([t], 0);
    expect(gz.length).toBeGreaterThan(t.length);
    expect(gunzipCli(gz).equals(t)).toBe(true);
  });
});
