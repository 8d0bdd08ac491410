import { describe, expect, it } from 'vitest';
import { parseBuildContextSpec, parseOutputSpec, parseSecretSpec, parseSshSpec } from '../src/options/specs.js';

describe('--output', () => {
  it('reads buildx forms and shorthands', () => {
    expect(parseOutputSpec('type=oci,dest=out.tar')).toMatchObject({ type: 'oci', dest: 'out.tar', tar: true });
    expect(parseOutputSpec('type=oci,dest=dir,tar=false')).toMatchObject({ type: 'oci', dest: 'dir', tar: false });
    expect(parseOutputSpec('type=docker,dest=img.tar,name=a:1')).toMatchObject({ type: 'docker', names: ['a:1'] });
    expect(parseOutputSpec('type=registry,name=localhost:5000/x:1')).toMatchObject({ type: 'registry', push: true, names: ['localhost:5000/x:1'] });
    expect(parseOutputSpec('type=image,"name=a:1,b:2",push=true')).toMatchObject({ type: 'image', push: true, names: ['a:1', 'b:2'] });
    expect(parseOutputSpec('./rootfs')).toEqual({ type: 'local', dest: './rootfs', attrs: {} });
    expect(parseOutputSpec('-')).toMatchObject({ type: 'tar', dest: '-' });
  });
  it('rejects what it cannot do, saying why', () => {
    expect(() => parseOutputSpec('type=cacheonly')).toThrow(/not supported/);
    expect(() => parseOutputSpec('type=local')).toThrow(/dest=PATH/);
    expect(() => parseOutputSpec('dest=x')).toThrow(/missing type=/);
    expect(() => parseOutputSpec('type=oci,tar=maybe,dest=x')).toThrow(/boolean/);
  });
});

describe('--build-context', () => {
  it('knows docker-image, oci-layout with tag or digest, and directories', () => {
    expect(parseBuildContextSpec('base=docker-image://alpine:3')).toEqual({ name: 'base', kind: 'image', ref: 'alpine:3' });
    expect(parseBuildContextSpec('busybox=oci-layout:///tmp/l:latest')).toEqual({ name: 'busybox', kind: 'oci-layout', dir: '/tmp/l', tag: 'latest' });
    const d = 'sha256:' + 'a'.repeat(64);
    expect(parseBuildContextSpec(`b=oci-layout://./l@${d}`)).toEqual({ name: 'b', kind: 'oci-layout', dir: './l', digest: d });
    expect(parseBuildContextSpec('src=../src')).toEqual({ name: 'src', kind: 'local', dir: '../src' });
    expect(() => parseBuildContextSpec('nope')).toThrow(/NAME=VALUE/);
  });
});

describe('--secret, --ssh', () => {
  it('parses secrets from files and env', () => {
    expect(parseSecretSpec('id=npm,src=/home/u/.npmrc')).toEqual({ id: 'npm', file: '/home/u/.npmrc' });
    expect(parseSecretSpec('id=tok,env=TOKEN')).toEqual({ id: 'tok', env: 'TOKEN' });
    expect(parseSecretSpec('id=TOKEN')).toEqual({ id: 'TOKEN', env: 'TOKEN' });
    expect(() => parseSecretSpec('src=x')).toThrow(/id= is required/);
  });
  it('parses ssh forwards', () => {
    expect(parseSshSpec('default')).toEqual({ id: 'default', paths: [] });
    expect(parseSshSpec('gh=/run/agent.sock')).toEqual({ id: 'gh', paths: ['/run/agent.sock'] });
  });
});
