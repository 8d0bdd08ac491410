/** Platform matching for index selection, with containerd's default variants (arm64 → v8, arm → v7). */
import type { Platform } from '../image/types.js';

function normalizeArch(arch: string, variant: string | undefined): { arch: string; variant: string | undefined } {
  switch (arch) {
    case 'x86_64':
    case 'x86-64':
      return { arch: 'amd64', variant: undefined };
    case 'aarch64':
    case 'arm64':
      return { arch: 'arm64', variant: variant === '8' || variant === undefined || variant === '' ? 'v8' : variant };
    case 'armhf':
      return { arch: 'arm', variant: 'v7' };
    case 'armel':
      return { arch: 'arm', variant: 'v6' };
    case 'arm':
      return { arch: 'arm', variant: variant === undefined || variant === '' ? 'v7' : variant.startsWith('v') ? variant : `v${variant}` };
    default:
      return { arch, variant: variant || undefined };
  }
}

/** True when an index entry's platform satisfies the wanted one (variant compared after defaults). */
export function platformMatches(want: Platform, have: Platform | undefined): boolean {
  if (!have) return false;
  if (want.os !== have.os) return false;
  const w = normalizeArch(want.architecture, want.variant);
  const h = normalizeArch(have.architecture, have.variant);
  if (w.arch !== h.arch) return false;
  if (w.variant !== undefined && h.variant !== undefined && w.variant !== h.variant) return false;
  if (want['os.version'] && have['os.version'] && want['os.version'] !== have['os.version']) return false;
  return true;
}

/** `linux/arm64/v8`-style text for messages. */
export function formatPlatform(p: Platform | undefined): string {
  if (!p) return 'unknown';
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** The platform of this process, in OCI terms (what BuildKit uses as the default build platform). */
export function hostPlatform(): Platform {
  const archMap: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return { os: process.platform === 'win32' ? 'windows' : process.platform, architecture: archMap[process.arch] ?? process.arch };
}
