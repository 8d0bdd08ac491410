/**
 * Platform normalization and matching, following containerd's `platforms` package: `aarch64` is
 * `arm64`, `arm64/v8` is `arm64`, bare `arm` is `arm/v7`, `x86_64` is `amd64`, and a host may run
 * older variants of its architecture (arm/v7 runs v6 and v5; amd64/v3 runs v2 and v1).
 */
import type { Platform } from './types.js';

/** Normalized platform: lowercase os, canonical architecture, canonical variant ('' when none). */
export interface NormalizedPlatform {
  os: string;
  architecture: string;
  variant: string;
}

/**
 * @example `normalizePlatform({ os: 'Linux', architecture: 'aarch64' })` → `{ os: 'linux', architecture: 'arm64', variant: '' }`
 */
export function normalizePlatform(p: Platform): NormalizedPlatform {
  let os = p.os.toLowerCase();
  if (os === 'macos') os = 'darwin';
  let architecture = p.architecture.toLowerCase();
  let variant = (p.variant ?? '').toLowerCase();
  switch (architecture) {
    case 'i386':
      architecture = '386';
      variant = '';
      break;
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      architecture = 'amd64';
      if (variant === 'v1') variant = '';
      break;
    case 'aarch64':
    case 'arm64':
      architecture = 'arm64';
      if (variant === '8' || variant === 'v8' || variant === 'v8.0') variant = '';
      else if (/^\d/.test(variant)) variant = `v${variant}`;
      break;
    case 'armhf':
      architecture = 'arm';
      variant = 'v7';
      break;
    case 'armel':
      architecture = 'arm';
      variant = 'v6';
      break;
    case 'arm':
      if (variant === '' || variant === '7') variant = 'v7';
      else if (variant === '5' || variant === '6' || variant === '8') variant = `v${variant}`;
      break;
  }
  return { os, architecture, variant };
}

/**
 * Parses `os/arch[/variant]` (e.g. `linux/arm64/v8`, `linux/amd64`).
 * @example `parsePlatform('linux/arm/v7')` → `{ os: 'linux', architecture: 'arm', variant: 'v7' }`
 */
export function parsePlatform(s: string): Platform {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((x) => x === '')) {
    throw new TypeError(`invalid platform ${JSON.stringify(s)}: expected os/architecture[/variant], e.g. linux/amd64`);
  }
  const out: Platform = { os: parts[0]!, architecture: parts[1]! };
  if (parts[2]) out.variant = parts[2];
  return out;
}

/** `os/arch[/variant]` as written in a platform (not normalized, so `arm64/v8` stays visible). */
export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** The platform of this Node process, normalized (e.g. linux/amd64). */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64', mips64el: 'mips64le' };
  const n = normalizePlatform({ os: process.platform, architecture: arch[process.arch] ?? process.arch });
  return n.variant ? { os: n.os, architecture: n.architecture, variant: n.variant } : { os: n.os, architecture: n.architecture };
}

const VARIANT_ORDER: Record<string, string[]> = {
  // What each variant can also run, best first (containerd's Only()).
  'arm/v8': ['v8', 'v7', 'v6', 'v5'],
  'arm/v7': ['v7', 'v6', 'v5'],
  'arm/v6': ['v6', 'v5'],
  'amd64/v4': ['v4', 'v3', 'v2', ''],
  'amd64/v3': ['v3', 'v2', ''],
  'amd64/v2': ['v2', ''],
};

/**
 * How well `candidate` fits `wanted`: 0 for an exact match, higher for an older compatible variant,
 * undefined when it cannot run. Candidates without an os/architecture never match.
 */
export function platformRank(wanted: Platform, candidate: Platform | undefined): number | undefined {
  if (!candidate?.os || !candidate.architecture) return undefined;
  const w = normalizePlatform(wanted);
  const c = normalizePlatform(candidate);
  if (w.os !== c.os || w.architecture !== c.architecture) return undefined;
  if (w.variant === c.variant) return 0;
  const order = VARIANT_ORDER[`${w.architecture}/${w.variant}`];
  const i = order ? order.indexOf(c.variant) : -1;
  return i > 0 ? i : undefined;
}
