import { describe, expect, it } from 'vitest';
import { BuildError } from '@build-image/errors';
import {
  familiarString,
  formatReference,
  ImageReferenceError,
  parseReference,
  registryApiHost,
} from '../src/reference/index.js';

const sha256 = 'sha256:' + 'f'.repeat(64);
const sha512 = 'sha512:' + 'f'.repeat(128);

// Cases from distribution/reference's normalize_test.go and reference_test.go, as full strings
// after normalization (tag defaulted to latest when neither tag nor digest is given).
const valid: Array<[string, string, Partial<{ registry: string; repository: string; tag: string; digest: string; familiar: string }>?]> = [
  ['busybox', 'docker.io/library/busybox:latest', { registry: 'docker.io', repository: 'library/busybox', tag: 'latest', familiar: 'busybox:latest' }],
  ['user/img', 'docker.io/user/img:latest', { familiar: 'user/img:latest' }],
  ['docker.io/library/busybox', 'docker.io/library/busybox:latest', { familiar: 'busybox:latest' }],
  ['index.docker.io/library/busybox:1', 'docker.io/library/busybox:1', { registry: 'docker.io' }],
  ['index.docker.io/busybox', 'docker.io/library/busybox:latest'],
  ['docker.io/busybox', 'docker.io/library/busybox:latest'],
  ['library/busybox', 'docker.io/library/busybox:latest'],
  ['localhost/x', 'localhost/x:latest', { registry: 'localhost', repository: 'x' }],
  ['localhost:5000/x', 'localhost:5000/x:latest', { registry: 'localhost:5000', familiar: 'localhost:5000/x:latest' }],
  ['test_com', 'docker.io/library/test_com:latest'],
  ['test.com:tag', 'docker.io/library/test.com:tag', { tag: 'tag' }],
  ['test.com:5000', 'docker.io/library/test.com:5000', { tag: '5000' }],
  ['test.com/repo:tag', 'test.com/repo:tag', { registry: 'test.com', repository: 'repo' }],
  ['test:5000/repo', 'test:5000/repo:latest', { registry: 'test:5000' }],
  ['test:5000/repo:tag', 'test:5000/repo:tag'],
  [`test:5000/repo@${sha256}`, `test:5000/repo@${sha256}`, { digest: sha256 }],
  [`test:5000/repo:tag@${sha256}`, `test:5000/repo:tag@${sha256}`, { tag: 'tag', digest: sha256 }],
  ['lowercase:Uppercase', 'docker.io/library/lowercase:Uppercase', { tag: 'Uppercase' }],
  ['sub-dom1.foo.com/bar/baz/quux', 'sub-dom1.foo.com/bar/baz/quux:latest', { repository: 'bar/baz/quux' }],
  ['sub-dom1.foo.com/bar/baz/quux:some-long-tag', 'sub-dom1.foo.com/bar/baz/quux:some-long-tag'],
  ['b.gcr.io/test.example.com/my-app:test.example.com', 'b.gcr.io/test.example.com/my-app:test.example.com'],
  ['xn--n3h.com/myimage:xn--n3h.com', 'xn--n3h.com/myimage:xn--n3h.com'],
  [`xn--7o8h.com/myimage:xn--7o8h.com@${sha512}`, `xn--7o8h.com/myimage:xn--7o8h.com@${sha512}`],
  ['foo_bar.com:8080', 'docker.io/library/foo_bar.com:8080'],
  ['foo/foo_bar.com:8080', 'docker.io/foo/foo_bar.com:8080', { repository: 'foo/foo_bar.com', tag: '8080' }],
  ['192.168.1.1/repo', '192.168.1.1/repo:latest'],
  ['192.168.1.1:5000/repo', '192.168.1.1:5000/repo:latest'],
  ['[2001:db8::1]/repo', '[2001:db8::1]/repo:latest', { registry: '[2001:db8::1]' }],
  ['[2001:db8::1]:5000/repo:tag', '[2001:db8::1]:5000/repo:tag', { registry: '[2001:db8::1]:5000' }],
  ['[::1]:5000/repo', '[::1]:5000/repo:latest'],
  ['a__b/c.d-e---f', 'docker.io/a__b/c.d-e---f:latest'],
  [`busybox@${sha256}`, `docker.io/library/busybox@${sha256}`, { familiar: `busybox@${sha256}` }],
  ['Foo.com/bar', 'Foo.com/bar:latest', { registry: 'Foo.com' }],
  ['FOO/bar', 'FOO/bar:latest', { registry: 'FOO' }], // an uppercase first component is a domain
];

describe('parseReference: valid references', () => {
  for (const [input, full, fields] of valid) {
    it(input.length > 60 ? input.slice(0, 60) + '…' : input, () => {
      const ref = parseReference(input);
      expect(formatReference(ref)).toBe(full);
      if (fields) expect(ref).toMatchObject(fields);
      // Re-parsing the canonical form is a fixed point.
      expect(formatReference(parseReference(full))).toBe(full);
      expect(formatReference(parseReference(ref.familiar))).toBe(full);
    });
  }

  it('a digest-only reference has no tag', () => {
    const ref = parseReference(`localhost:5000/x@${sha256}`);
    expect(ref.tag).toBeUndefined();
    expect(ref.digest).toBe(sha256);
  });

  it('familiar strings drop docker.io and library/ only for Docker Hub', () => {
    expect(familiarString({ registry: 'docker.io', repository: 'library/busybox', tag: '1' })).toBe('busybox:1');
    expect(familiarString({ registry: 'docker.io', repository: 'user/img', tag: '1' })).toBe('user/img:1');
    expect(familiarString({ registry: 'quay.io', repository: 'library/busybox', tag: '1' })).toBe('quay.io/library/busybox:1');
  });

  it('Docker Hub is reached through registry-1.docker.io', () => {
    expect(registryApiHost('docker.io')).toBe('registry-1.docker.io');
    expect(registryApiHost('index.docker.io')).toBe('registry-1.docker.io');
    expect(registryApiHost('127.0.0.1:5000')).toBe('127.0.0.1:5000');
  });
});

const invalid: Array<[string, string, RegExp]> = [
  ['', 'empty', /at least one component/],
  [':justtag', 'format', /invalid reference format/],
  [`@${sha256}`, 'format', /invalid reference format/],
  ['Uppercase:tag', 'uppercase', /repository name \(library\/Uppercase\) must be lowercase/],
  ['test:5000/Uppercase/lowercase:tag', 'uppercase', /must be lowercase/],
  ['docker.io/User/img', 'uppercase', /must be lowercase/],
  ['aa/asdf$$^/aa', 'format', /invalid reference format/],
  [`validname@invalidalgo:${'f'.repeat(64)}`, 'digest', /unsupported digest algorithm "invalidalgo"/],
  [`validname@sha256:${'f'.repeat(63)}`, 'digest', /sha256 digest in .* must be 64 lowercase hex characters/],
  [`validname@sha256:${'F'.repeat(64)}`, 'digest', /must be 64 lowercase hex/],
  ['a'.repeat(64).replace(/a/g, 'f'), 'hex-identifier', /cannot specify 64-byte hexadecimal strings/],
  [`repo:${'a'.repeat(129)}`, 'tag', /longer than 128/],
  ['a/'.repeat(128) + 'a', 'name-too-long', /not be more than 255 characters/],
  ['[fe80::1%eth0]:5000/repo', 'format', /invalid reference format/],
  ['repo:tag:tag', 'format', /invalid reference format/],
  ['-leadingdash', 'format', /invalid reference format/],
  ['a//b', 'format', /invalid reference format/],
  ['a/b/', 'format', /invalid reference format/],
];

describe('parseReference: invalid references', () => {
  for (const [input, reason, message] of invalid) {
    it(JSON.stringify(input.length > 50 ? input.slice(0, 50) + '…' : input), () => {
      let err: unknown;
      try {
        parseReference(input);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ImageReferenceError);
      expect(err).toBeInstanceOf(BuildError);
      const e = err as ImageReferenceError;
      expect(e.code).toBe('E_REFERENCE');
      expect(e.data.reason).toBe(reason);
      expect(e.message).toMatch(message);
      expect(e.data.reference).toBe(input);
    });
  }
});
