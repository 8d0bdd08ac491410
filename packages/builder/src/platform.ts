/**
 * Platforms on the builder side: the host's, and how an image's platform is matched against the
 * wanted one (containerd's `platforms.Only`: exact first, then older variants the host can run).
 * Parsing and normalization are the parser's (`@build-image/parser`), so a `--platform` string
 * means the same everywhere.
 */
import { normalizePlatform, parsePlatform as parsePlatformSpec } from '@build-image/parser';
import type { Platform } from './image/types.js';

const NODE_ARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
  mips64el: 'mips64le',
};

/**
 * The platform of this process in OCI terms (BuildKit's default build platform), normalized.
 *
 * @example
 * ```ts
 * hostPlatform() // { os: 'linux', architecture: 'amd64' } on an x86-64 Linux host
 * ```
 */
export function hostPlatform(): Platform {
  const n = normalizePlatform({ os: process.platform === 'win32' ? 'windows' : process.platform, architecture: NODE_ARCH[process.arch] ?? process.arch });
  return n.variant ? { os: n.os, architecture: n.architecture, variant: n.variant } : { os: n.os, architecture: n.architecture };
}

/**
 * `os/arch[/variant]` of the host, e.g. `linux/amd64`.
 *
 * @example
 * ```ts
 * hostPlatformString() // 'linux/amd64' on an x86-64 Linux host
 * ```
 */
export function hostPlatformString(): string {
  return formatPlatform(hostPlatform());
}

/**
 * Parses `os/arch[/variant]` into an OCI platform (normalized: `linux/aarch64` → linux/arm64).
 *
 * @example
 * ```ts
 * parsePlatform('linux/aarch64') // { os: 'linux', architecture: 'arm64' }
 * ```
 */
export function parsePlatform(spec: string): Platform {
  const p = parsePlatformSpec(spec, hostPlatform());
  return { os: p.os, architecture: p.architecture, ...(p.variant ? { variant: p.variant } : {}), ...(p.osVersion ? { 'os.version': p.osVersion } : {}) };
}

/**
 * `linux/arm64/v8`-style text for messages (as written, not normalized).
 *
 * @example
 * ```ts
 * formatPlatform({ os: 'linux', architecture: 'arm', variant: 'v7' }) // 'linux/arm/v7'
 * ```
 */
export function formatPlatform(p: Platform | undefined): string {
  if (!p) return 'unknown';
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
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

function normalized(p: Platform): { os: string; architecture: string; variant: string } {
  const n = normalizePlatform({ os: p.os, architecture: p.architecture, ...(p.variant ? { variant: p.variant } : {}) });
  return { os: n.os, architecture: n.architecture, variant: n.variant ?? '' };
}

/**
 * How well `candidate` fits `wanted`: 0 for an exact match, higher for an older compatible variant,
 * undefined when it cannot run. Candidates without an os/architecture never match; an OS version
 * is compared only when both sides have one.
 *
 * @example
 * ```ts
 * platformRank({ os: 'linux', architecture: 'arm', variant: 'v7' }, { os: 'linux', architecture: 'arm', variant: 'v6' }) // 1
 * ```
 */
export function platformRank(wanted: Platform, candidate: Platform | undefined): number | undefined {
  if (!candidate?.os || !candidate.architecture) return undefined;
  const w = normalized(wanted);
  const c = normalized(candidate);
  if (w.os !== c.os || w.architecture !== c.architecture) return undefined;
  if (wanted['os.version'] && candidate['os.version'] && wanted['os.version'] !== candidate['os.version']) return undefined;
  if (w.variant === c.variant) return 0;
  const order = VARIANT_ORDER[`${w.architecture}/${w.variant}`];
  const i = order ? order.indexOf(c.variant) : -1;
  return i > 0 ? i : undefined;
}
