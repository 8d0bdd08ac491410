import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CACHE_KEY_VERSION, computeCacheKey, keyOfPreimage, type CacheKey, type Digest, type KeyPart } from '../src/index.js';

const parent = `sha256:${'1'.repeat(64)}` as CacheKey;
const base = `sha256:${'2'.repeat(64)}` as Digest;

const vector: KeyPart[] = [
  { type: 'parent', value: parent },
  { type: 'op', value: 'RUN ["/bin/sh","-c","make"]' },
  { type: 'arg', name: 'VERSION', value: '1' },
  { type: 'env', name: 'PATH', value: '/usr/bin' },
  { type: 'platform', value: 'linux/amd64' },
  { type: 'base', value: base },
  { type: 'files', name: 'source #1', entries: [{ path: 'a.txt', hash: 'sha256:aa', mode: 0o644 }, { path: 'b/c.txt', hash: 'sha256:bb' }] },
  { type: 'secret-id', value: 'npmrc' },
  { type: 'input', name: 'builder', value: null },
  { type: 'extra', name: 'network', value: 'none' },
];

/** An independent encoder of the documented framing, to check the implementation against the spec text. */
function frame(tree: unknown): Buffer {
  if (tree === null) return Buffer.from('n');
  if (typeof tree === 'string') {
    const b = Buffer.from(tree, 'utf8');
    const h = Buffer.alloc(5);
    h.write('s');
    h.writeUInt32BE(b.length, 1);
    return Buffer.concat([h, b]);
  }
  const items = tree as unknown[];
  const h = Buffer.alloc(5);
  h.write('l');
  h.writeUInt32BE(items.length, 1);
  return Buffer.concat([h, ...items.map(frame)]);
}

describe('computeCacheKey', () => {
  it('matches a pinned test vector (an accidental change of the algorithm fails here)', () => {
    const { key } = computeCacheKey(vector);
    expect(CACHE_KEY_VERSION).toBe(1);
    expect(key).toBe('sha256:46041d0fc38d6d0f49ae7ecc71961b8068e835e1aec5a4eddfa67fba49352625');
  });

  it('is the sha256 of the framing the README documents', () => {
    const tree = [
      'build-image.cache-key',
      'v1',
      [
        ['parent', parent],
        ['base', base],
        ['platform', 'linux/amd64'],
        ['op', 'RUN ["/bin/sh","-c","make"]'],
        ['input', 'builder', null],
        ['arg', 'VERSION', '1'],
        ['env', 'PATH', '/usr/bin'],
        ['secret-id', 'npmrc'],
        ['files', 'source #1', [['a.txt', 'sha256:aa', '644'], ['b/c.txt', 'sha256:bb', null]]],
        ['extra', 'network', 'none'],
      ],
    ];
    const expected = `sha256:${createHash('sha256').update(frame(tree)).digest('hex')}`;
    expect(computeCacheKey(vector).key).toBe(expected);
    // Values larger than the encoder's staging buffer, and multi-byte UTF-8, frame the same way.
    const long = `RUN echo ${'é'.repeat(70_000)}`;
    const tree2 = ['build-image.cache-key', 'v1', [['op', long], ['arg', 'ü', '€']]];
    expect(computeCacheKey([{ type: 'arg', name: 'ü', value: '€' }, { type: 'op', value: long }]).key).toBe(
      `sha256:${createHash('sha256').update(frame(tree2)).digest('hex')}`,
    );
  });

  it('does not depend on the order of parts, args, env or file entries', () => {
    const a = computeCacheKey([
      { type: 'op', value: 'RUN x' },
      { type: 'arg', name: 'A', value: '1' },
      { type: 'arg', name: 'B', value: '2' },
      { type: 'env', name: 'Z', value: 'z' },
      { type: 'files', name: 's', entries: [{ path: 'a', hash: 'h1' }, { path: 'b', hash: 'h2' }] },
    ]);
    const b = computeCacheKey([
      { type: 'files', name: 's', entries: [{ path: 'b', hash: 'h2' }, { path: 'a', hash: 'h1' }] },
      { type: 'env', name: 'Z', value: 'z' },
      { type: 'arg', name: 'B', value: '2' },
      { type: 'arg', name: 'A', value: '1' },
      { type: 'op', value: 'RUN x' },
    ]);
    expect(b.key).toBe(a.key);
    expect(b.preimage).toEqual(a.preimage);
  });

  it('changes when a value moves between fields, parts or types', () => {
    const keys = [
      [{ type: 'arg', name: 'AB', value: 'C' }],
      [{ type: 'arg', name: 'A', value: 'BC' }],
      [{ type: 'env', name: 'A', value: 'BC' }],
      [{ type: 'arg', name: 'A', value: 'B' }, { type: 'arg', name: 'C', value: '' }],
      [{ type: 'op', value: 'RUN a' }],
      [{ type: 'op', value: 'RUN ' }, { type: 'platform', value: 'a' }],
      [{ type: 'files', name: 's', entries: [{ path: 'ab', hash: 'c' }] }],
      [{ type: 'files', name: 's', entries: [{ path: 'a', hash: 'bc' }] }],
      [{ type: 'files', name: 's', entries: [{ path: 'a', hash: 'bc', mode: 0o644 }] }],
      [{ type: 'files', name: 's', entries: [{ path: 'a', hash: 'b' }, { path: 'c', hash: '' }] }],
      [{ type: 'files', name: 's', entries: [] }],
      [{ type: 'files', name: 't', entries: [] }],
      [{ type: 'parent', value: null }],
      [],
      [{ type: 'extra', name: 'x', value: null }],
      [{ type: 'extra', name: 'x', value: '' }],
      [{ type: 'extra', name: 'x', value: 'n' }],
    ].map((parts) => computeCacheKey(parts as KeyPart[]).key);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('keeps only framed fields in the pre-image (an mtime handed over by mistake is dropped)', () => {
    const withMtime = computeCacheKey([{ type: 'files', name: 's', entries: [{ path: 'a', hash: 'h', mtime: 123 } as never] }]);
    const without = computeCacheKey([{ type: 'files', name: 's', entries: [{ path: 'a', hash: 'h' }] }]);
    expect(withMtime.key).toBe(without.key);
    expect(JSON.stringify(withMtime.preimage)).not.toContain('mtime');
  });

  it('rejects duplicates and junk with E_INVALID_KEY_PART', () => {
    const bad: KeyPart[][] = [
      [{ type: 'op', value: 'a' }, { type: 'op', value: 'b' }],
      [{ type: 'arg', name: 'A', value: '1' }, { type: 'arg', name: 'A', value: '2' }],
      [{ type: 'files', name: 's', entries: [{ path: 'a', hash: '1' }, { path: 'a', hash: '2' }] }],
      [{ type: 'files', name: 's', entries: [{ path: 'a', hash: '1', mode: -1 }] }],
      [{ type: 'nope', value: 'x' } as unknown as KeyPart],
      [{ type: 'arg', name: 'A', value: 1 } as unknown as KeyPart],
    ];
    for (const parts of bad) expect(() => computeCacheKey(parts)).toThrow(expect.objectContaining({ code: 'E_INVALID_KEY_PART' }));
  });

  it('round-trips the pre-image through JSON back to the same key', () => {
    const { key, preimage } = computeCacheKey(vector);
    expect(keyOfPreimage(JSON.parse(JSON.stringify(preimage)))).toBe(key);
    expect(() => keyOfPreimage({ ...preimage, version: 99 })).toThrow(expect.objectContaining({ code: 'E_INVALID_KEY_PART' }));
  });

  it('frames 20,000 file entries quickly', () => {
    const entries = Array.from({ length: 20_000 }, (_, i) => ({ path: `src/dir${i % 100}/file${i}.ts`, hash: `sha256:${i.toString(16).padStart(64, '0')}`, mode: 0o644 }));
    computeCacheKey([{ type: 'files', name: 'source #1', entries }]); // warm up the JIT once
    const t0 = performance.now();
    const { key } = computeCacheKey([{ type: 'files', name: 'source #1', entries }]);
    const ms = performance.now() - t0;
    expect(key).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(ms).toBeLessThan(500);
  });
});
