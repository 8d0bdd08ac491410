/**
 * OCI platform strings (`linux/arm64/v8`, `windows(10.0.17763)/amd64`), parsed and normalized the
 * way containerd's `platforms` package does, because BuildKit feeds every `--platform` and
 * `FROM --platform` through it. Pure: the host platform is never guessed here.
 */
import { DockerfileSyntaxError } from './errors.js';

/** An OCI platform (`os`, `architecture`, optional `variant` and `osVersion`). */
export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  osVersion?: string;
}

const COMPONENT = /^[A-Za-z0-9_-]+$/;
const KNOWN_OS = new Set([
  'aix', 'android', 'darwin', 'dragonfly', 'freebsd', 'hurd', 'illumos', 'ios', 'js', 'linux', 'nacl', 'netbsd',
  'openbsd', 'plan9', 'solaris', 'windows', 'zos', 'macos', 'wasip1',
]);
const KNOWN_ARCH = new Set([
  '386', 'amd64', 'amd64p32', 'arm', 'armbe', 'arm64', 'arm64be', 'ppc64', 'ppc64le', 'loong64', 'mips', 'mipsle',
  'mips64', 'mips64le', 'mips64p32', 'mips64p32le', 'ppc', 'riscv', 'riscv64', 's390', 's390x', 'sparc', 'sparc64',
  'wasm', 'i386', 'x86_64', 'x86-64', 'aarch64', 'armhf', 'armel',
]);

function invalid(spec: string, why: string): DockerfileSyntaxError {
  return new DockerfileSyntaxError('E_PLATFORM', `invalid platform "${spec}": ${why}; use the form os/architecture[/variant], for example linux/arm64 or linux/arm/v7`, undefined, { data: { platform: spec } });
}

/**
 * Parses a platform specifier and normalizes it (see {@link normalizePlatform}).
 * A lone OS takes `defaults.architecture`; a lone architecture takes `defaults.os`
 * (containerd uses the running host for both; here the caller says what the host is).
 *
 * @example parsePlatform('linux/aarch64') // { os: 'linux', architecture: 'arm64' }
 * @throws DockerfileSyntaxError `E_PLATFORM` when the string is not a platform.
 */
export function parsePlatform(spec: string, defaults: Platform = { os: 'linux', architecture: 'amd64' }): Platform {
  if (spec === '') throw invalid(spec, 'the platform is empty');
  let osVersion: string | undefined;
  let rest = spec;
  // containerd accepts `os(osversion)/arch` since v2.
  const m = /^([^/()]+)\(([^()]*)\)(\/.*)?$/.exec(spec);
  if (m) {
    osVersion = m[2];
    rest = (m[1] ?? '') + (m[3] ?? '');
  }
  const parts = rest.split('/');
  for (const part of parts) {
    if (!COMPONENT.test(part)) throw invalid(spec, `"${part}" is an invalid component (it must match ${COMPONENT.source})`);
  }
  let p: Platform;
  if (parts.length === 1) {
    const one = (parts[0] ?? '').toLowerCase();
    if (KNOWN_OS.has(one)) p = { os: one, architecture: defaults.architecture, ...(defaults.variant && one === defaults.os ? { variant: defaults.variant } : {}) };
    else if (KNOWN_ARCH.has(one)) p = { os: defaults.os, architecture: one };
    else throw invalid(spec, `"${one}" is neither a known operating system nor a known architecture`);
  } else if (parts.length === 2) {
    p = { os: parts[0]!, architecture: parts[1]! };
  } else if (parts.length === 3) {
    p = { os: parts[0]!, architecture: parts[1]!, variant: parts[2]! };
  } else {
    throw invalid(spec, 'too many components');
  }
  if (osVersion) p.osVersion = osVersion;
  return normalizePlatform(p);
}

/**
 * Normalizes OS, architecture and variant like containerd's `platforms.Normalize`:
 * `aarch64`→`arm64`, `arm64/v8`→`arm64`, `x86_64`→`amd64`, `arm`→`arm/v7`, `armhf`→`arm/v7`,
 * `armel`→`arm/v6`, `i386`→`386`, `macos`→`darwin`.
 *
 * @example normalizePlatform({ os: 'Linux', architecture: 'arm' }) // { os: 'linux', architecture: 'arm', variant: 'v7' }
 */
export function normalizePlatform(p: Platform): Platform {
  let os = p.os.toLowerCase();
  if (os === 'macos') os = 'darwin';
  let arch = p.architecture.toLowerCase();
  let variant = (p.variant ?? '').toLowerCase();
  switch (arch) {
    case 'i386':
      arch = '386';
      variant = '';
      break;
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      arch = 'amd64';
      if (variant === 'v1') variant = '';
      break;
    case 'aarch64':
    case 'arm64':
      arch = 'arm64';
      if (variant === '8' || variant === 'v8' || variant === 'v8.0') variant = '';
      break;
    case 'armhf':
      arch = 'arm';
      variant = 'v7';
      break;
    case 'armel':
      arch = 'arm';
      variant = 'v6';
      break;
    case 'arm':
      if (variant === '' || variant === '7') variant = 'v7';
      else if (variant === '5' || variant === '6' || variant === '8') variant = `v${variant}`;
      break;
  }
  const out: Platform = { os, architecture: arch };
  if (variant) out.variant = variant;
  if (p.osVersion) out.osVersion = p.osVersion;
  return out;
}

/**
 * `os/architecture[/variant]` (containerd `platforms.Format`; the OS version is left out).
 *
 * @example formatPlatform({ os: 'linux', architecture: 'arm', variant: 'v7' }) // 'linux/arm/v7'
 */
export function formatPlatform(p: Platform): string {
  return [p.os || 'unknown', p.architecture, ...(p.variant ? [p.variant] : [])].join('/');
}

/**
 * Like {@link formatPlatform} but keeps the OS version as `os(version)` (containerd `FormatAll`),
 * which is what BuildKit puts in `TARGETPLATFORM`.
 *
 * @example formatPlatformAll({ os: 'windows', osVersion: '10.0.17763.1', architecture: 'amd64' }) // 'windows(10.0.17763.1)/amd64'
 */
export function formatPlatformAll(p: Platform): string {
  const os = (p.os || 'unknown') + (p.osVersion ? `(${p.osVersion})` : '');
  return [os, p.architecture, ...(p.variant ? [p.variant] : [])].join('/');
}
