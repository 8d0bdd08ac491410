/**
 * Facts about the user namespace the engine runs in, read from /proc (cheap, no spawning).
 */
import { readFileSync } from 'node:fs';

/** One line of /proc/self/uid_map or gid_map. */
export interface IdMapExtent {
  inside: number;
  outside: number;
  size: number;
}

/** Parses a uid_map/gid_map text. */
export function parseIdMap(text: string): IdMapExtent[] {
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number))
    .filter((f) => f.length === 3 && f.every((x) => Number.isFinite(x)))
    .map(([inside, outside, size]) => ({ inside: inside as number, outside: outside as number, size: size as number }));
}

/**
 * True when this process runs in a user namespace other than the initial one (the initial
 * namespace maps `0 0 4294967295`). Same test as runc's `userns.RunningInUserNS`.
 */
export function runningInUserNamespace(): boolean {
  try {
    const ext = parseIdMap(readFileSync('/proc/self/uid_map', 'utf8'));
    return !(ext.length === 1 && ext[0]?.inside === 0 && ext[0]?.outside === 0 && ext[0]?.size === 4294967295);
  } catch {
    return false;
  }
}

/** Total number of ids mapped into this namespace (1 means a single-id mapping). */
export function mappedIdCount(): number {
  try {
    return parseIdMap(readFileSync('/proc/self/uid_map', 'utf8')).reduce((a, e) => a + e.size, 0);
  } catch {
    return 0;
  }
}
