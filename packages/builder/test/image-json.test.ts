import { describe, expect, it } from 'vitest';
import { canonicalJson, isDigest, MediaType, parseDigest, sha256Digest, toDockerMediaType, toOciMediaType } from '../src/image/index.js';

describe('canonicalJson', () => {
  it('sorts keys at every depth, drops undefined members, no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: undefined }], c: null } })).toBe('{"a":{"c":null,"d":[3,{"z":1}]},"b":1}');
  });
  it('gives the same bytes whatever the insertion order', () => {
    const x = { config: { Env: ['A=1'], Cmd: ['sh'] }, architecture: 'amd64', os: 'linux' };
    const y = { os: 'linux', architecture: 'amd64', config: { Cmd: ['sh'], Env: ['A=1'] } };
    expect(canonicalJson(x)).toBe(canonicalJson(y));
    expect(sha256Digest(canonicalJson(x))).toBe(sha256Digest(canonicalJson(y)));
  });
  it("escapes <, >, &, U+2028 and U+2029 as Go's encoding/json does", () => {
    expect(canonicalJson({ cmd: 'a && b > c < d\u2028\u2029' })).toBe('{"cmd":"a \\u0026\\u0026 b \\u003e c \\u003c d\\u2028\\u2029"}');
    expect(JSON.parse(canonicalJson({ cmd: 'a && b' }))).toEqual({ cmd: 'a && b' });
  });
});

describe('digests and media types', () => {
  it('validates digests before they become paths', () => {
    expect(sha256Digest('')).toBe('sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(isDigest('sha256:../../etc/passwd')).toBe(false);
    expect(() => parseDigest('sha256:ABC')).toThrowError(/Invalid digest/);
  });
  it('maps OCI and Docker media types both ways, zstd staying OCI', () => {
    expect(toDockerMediaType(MediaType.OciManifest)).toBe(MediaType.DockerManifest);
    expect(toDockerMediaType(MediaType.OciLayerGzip)).toBe(MediaType.DockerLayerGzip);
    expect(toDockerMediaType(MediaType.OciLayerZstd)).toBe(MediaType.OciLayerZstd);
    expect(toOciMediaType(MediaType.DockerConfig)).toBe(MediaType.OciConfig);
    expect(toOciMediaType(MediaType.DockerManifestList)).toBe(MediaType.OciIndex);
  });
});
