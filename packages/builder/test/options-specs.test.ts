import { describe, expect, it } from 'vitest';
import { parseAddHostSpec, parseBuildContextSpec, parseByteSize, parseOutputSpec, parseSecretSpec, parseSshSpec, parseUlimitSpec } from '../src/options/specs.js';

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

describe('--add-host, --ulimit, --shm-size', () => {
  it('--add-host: HOST:IP or HOST=IP, bracketed or bare IPv6 printed as Go prints it, host-gateway', () => {
    expect(parseAddHostSpec('db:10.0.0.5')).toEqual({ host: 'db', ip: '10.0.0.5' });
    expect(parseAddHostSpec('db=10.0.0.5')).toEqual({ host: 'db', ip: '10.0.0.5' });
    // `=` first: an IPv6 address keeps its colons.
    expect(parseAddHostSpec('v6=2001:DB8:0:0::33')).toEqual({ host: 'v6', ip: '2001:db8::33' });
    expect(parseAddHostSpec('v6=[2001:db8::33]')).toEqual({ host: 'v6', ip: '2001:db8::33' });
    expect(parseAddHostSpec('v6:2001:db8::33')).toEqual({ host: 'v6', ip: '2001:db8::33' });
    expect(parseAddHostSpec('m=::ffff:10.1.2.3')).toEqual({ host: 'm', ip: '10.1.2.3' });
    expect(parseAddHostSpec('host.docker.internal:host-gateway')).toEqual({ host: 'host.docker.internal', ip: '127.0.0.1' });
    for (const bad of ['db', 'db:', ':1.2.3.4', 'db:not-an-ip', 'db:300.1.1.1']) expect(() => parseAddHostSpec(bad), bad).toThrow(/--add-host/);
  });

  it('--ulimit: NAME=SOFT[:HARD], hard defaulting to soft, known names only, soft <= hard', () => {
    expect(parseUlimitSpec('nofile=1024:2048')).toEqual({ name: 'nofile', soft: 1024, hard: 2048 });
    expect(parseUlimitSpec('nproc=512')).toEqual({ name: 'nproc', soft: 512, hard: 512 });
    expect(() => parseUlimitSpec('nofile=2048:1024')).toThrow('the soft limit 2048 is above the hard limit 1024');
    expect(() => parseUlimitSpec('files=1')).toThrow('unknown limit "files"');
    expect(() => parseUlimitSpec('nofile=-1')).toThrow('expected NAME=SOFT[:HARD]');
  });

  it('--shm-size: bytes with Docker\'s units (powers of 1024)', () => {
    expect(parseByteSize('1024', '--shm-size')).toBe(1024);
    expect(parseByteSize('64m', '--shm-size')).toBe(64 * 1024 * 1024);
    expect(parseByteSize('1.5g', '--shm-size')).toBe(1.5 * 1024 ** 3);
    expect(parseByteSize('128MB', '--shm-size')).toBe(128 * 1024 * 1024);
    expect(parseByteSize('2GiB', '--shm-size')).toBe(2 * 1024 ** 3);
    expect(parseByteSize('512b', '--shm-size')).toBe(512);
    for (const bad of ['', 'lots', '0', '-1m', '12x']) expect(() => parseByteSize(bad, '--shm-size'), bad).toThrow(/--shm-size/);
  });
});
