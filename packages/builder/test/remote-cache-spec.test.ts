/** `--cache-to` / `--cache-from` parsing, with BuildKit's and buildx's spellings and defaults. */
import { describe, expect, it } from 'vitest';
import { parseCacheExportSpec, parseCacheImportSpec, parseDuration } from '../src/remote-cache/index.js';

const noEnv = {};

describe('--cache-to', () => {
  it('registry: ref, mode (default min), oci-mediatypes (default true), ignore-error', () => {
    expect(parseCacheExportSpec('type=registry,ref=ghcr.io/o/app:cache', noEnv)).toEqual({
      type: 'registry',
      ref: 'ghcr.io/o/app:cache',
      ociMediaTypes: true,
      mode: 'min',
      ignoreError: false,
      attrs: { type: 'registry', ref: 'ghcr.io/o/app:cache' },
    });
    const s = parseCacheExportSpec('type=registry,ref=127.0.0.1:5000/a:c,mode=max,oci-mediatypes=false,ignore-error=true,timeout=90s', noEnv);
    expect(s).toMatchObject({ type: 'registry', mode: 'max', ociMediaTypes: false, ignoreError: true, timeoutMs: 90_000 });
  });

  it('a bare value is a registry reference (buildx)', () => {
    expect(parseCacheExportSpec('ghcr.io/o/app:cache', noEnv)).toMatchObject({ type: 'registry', ref: 'ghcr.io/o/app:cache', mode: 'min' });
  });

  it('local: dest and tag (default latest)', () => {
    expect(parseCacheExportSpec('type=local,dest=/tmp/c,mode=max', noEnv)).toMatchObject({ type: 'local', dest: '/tmp/c', tag: 'latest', mode: 'max' });
    expect(parseCacheExportSpec('type=local,dest=/tmp/c,tag=v1', noEnv)).toMatchObject({ tag: 'v1' });
  });

  it('gha: runner environment defaults, scope default buildkit, v2 preferred when ACTIONS_RESULTS_URL is set', () => {
    const env = { ACTIONS_RESULTS_URL: 'https://results-receiver.actions.githubusercontent.com/', ACTIONS_CACHE_URL: 'https://artifactcache.actions.githubusercontent.com/abc/', ACTIONS_RUNTIME_TOKEN: 'tok' };
    expect(parseCacheExportSpec('type=gha', env)).toMatchObject({ type: 'gha', version: 2, url: env.ACTIONS_RESULTS_URL, token: 'tok', scope: 'buildkit', mode: 'min' });
    expect(parseCacheExportSpec('type=gha,version=1,scope=main', env)).toMatchObject({ version: 1, url: env.ACTIONS_CACHE_URL, scope: 'main' });
    expect(parseCacheExportSpec('type=gha', { ACTIONS_CACHE_URL: env.ACTIONS_CACHE_URL, ACTIONS_RUNTIME_TOKEN: 'tok' })).toMatchObject({ version: 1, url: env.ACTIONS_CACHE_URL });
    // A bare url that is the results service is v2 (BuildKit's rule for old clients).
    expect(parseCacheExportSpec('type=gha,url=https://results-receiver.actions.githubusercontent.com/,token=t', noEnv)).toMatchObject({ version: 2 });
    expect(parseCacheExportSpec('type=gha,url=http://127.0.0.1:9/,url_v2=http://127.0.0.1:8/,token=t,mode=max', noEnv)).toMatchObject({ version: 2, url: 'http://127.0.0.1:8/', mode: 'max' });
  });

  it('errors say what is missing and how to fix it', () => {
    expect(() => parseCacheExportSpec('type=registry', noEnv)).toThrow(/type=registry needs ref=/);
    expect(() => parseCacheExportSpec('type=local,src=/x', noEnv)).toThrow(/type=local needs dest=DIR/);
    expect(() => parseCacheExportSpec('type=registry,ref=a/b:c,mode=all', noEnv)).toThrow(/mode=all is not valid \(use min or max\)/);
    expect(() => parseCacheExportSpec('type=inline', noEnv)).toThrow(/type=inline is not supported/);
    expect(() => parseCacheExportSpec('type=s3,bucket=x', noEnv)).toThrow(/type=s3 is not supported; use registry, local or gha/);
    expect(() => parseCacheExportSpec('mode=max', noEnv)).toThrow(/missing type=/);
    expect(() => parseCacheExportSpec('type=gha', { ACTIONS_RUNTIME_TOKEN: 't' })).toThrow(/no cache service URL/);
    expect(() => parseCacheExportSpec('type=gha,url_v2=http://x/', noEnv)).toThrow(/no token/);
    expect(() => parseCacheExportSpec('type=gha,url_v2=http://x/,token=t,scope=my branch', noEnv)).toThrow(/scope="my branch" is not valid/);
    expect(() => parseCacheExportSpec('type=gha,url_v2=http://x/,token=t,version=3', noEnv)).toThrow(/version=3 is not valid/);
    expect(() => parseCacheExportSpec('type=registry,ref=a/b:c,ignore-error=maybe', noEnv)).toThrow(/ignore-error=maybe is not a boolean/);
    try {
      parseCacheExportSpec('type=registry', noEnv);
    } catch (e) {
      expect((e as { code: string }).code).toBe('E_OPTION');
    }
  });
});

describe('--cache-from', () => {
  it('registry, bare reference, local with tag or digest, gha', () => {
    expect(parseCacheImportSpec('type=registry,ref=ghcr.io/o/app:cache', noEnv)).toEqual({ type: 'registry', ref: 'ghcr.io/o/app:cache', attrs: { type: 'registry', ref: 'ghcr.io/o/app:cache' } });
    expect(parseCacheImportSpec('user/app:cache', noEnv)).toMatchObject({ type: 'registry', ref: 'user/app:cache' });
    expect(parseCacheImportSpec('type=local,src=/tmp/c', noEnv)).toMatchObject({ type: 'local', src: '/tmp/c' });
    expect(parseCacheImportSpec('type=local,src=/tmp/c,tag=v2', noEnv)).toMatchObject({ tag: 'v2' });
    expect(parseCacheImportSpec(`type=local,src=/tmp/c,digest=sha256:${'a'.repeat(64)}`, noEnv)).toMatchObject({ digest: `sha256:${'a'.repeat(64)}` });
    expect(parseCacheImportSpec('type=gha,scope=pr-12', { ACTIONS_RESULTS_URL: 'http://r/', ACTIONS_RUNTIME_TOKEN: 't' })).toMatchObject({ type: 'gha', scope: 'pr-12', version: 2 });
    expect(() => parseCacheImportSpec('type=local,dest=/x', noEnv)).toThrow(/type=local needs src=DIR/);
  });
});

describe('parseDuration', () => {
  it('reads Go durations and bare seconds', () => {
    expect(parseDuration('10m', 'x')).toBe(600_000);
    expect(parseDuration('1h30m', 'x')).toBe(5_400_000);
    expect(parseDuration('250ms', 'x')).toBe(250);
    expect(parseDuration('1.5s', 'x')).toBe(1500);
    expect(parseDuration('45', 'x')).toBe(45_000);
    expect(() => parseDuration('5 minutes', 'x')).toThrow(/not a duration/);
    expect(() => parseDuration('', 'x')).toThrow(/not a duration/);
  });
});
