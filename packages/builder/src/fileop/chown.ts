import { readFile } from 'node:fs/promises';
import { parseGroup, parsePasswd } from '../executor/user.js';
import { resolveInRoot } from '../rootfs/resolve.js';
import type { Owner } from './copy.js';

async function readInRoot(root: string, file: string): Promise<string | undefined> {
  try {
    return await readFile(await resolveInRoot(root, file), 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Resolves a `--chown` value against the destination root's /etc/passwd and /etc/group with
 * BuildKit's FileOp rules (solver/llbsolver/ops/user_linux.go `readUser`), which differ from USER:
 * - a numeric user sets both uid and gid to that number (`--chown=1000` → 1000:1000);
 * - a user name takes uid and primary gid from passwd; an unknown name silently stays 0:0;
 * - a group (name from /etc/group, or number) then replaces the gid; an unknown group name keeps it.
 *
 * @example
 * ```ts
 * const owner = await resolveChown(snapshot.mergedDir, 'app:staff') // { uid: 1000, gid: 50 } from the rootfs's /etc/passwd and /etc/group
 * ```
 */
export async function resolveChown(root: string, chown: string): Promise<Owner> {
  const colon = chown.indexOf(':');
  const user = colon < 0 ? chown : chown.slice(0, colon);
  const group = colon < 0 ? undefined : chown.slice(colon + 1);
  const owner: Owner = { uid: 0, gid: 0 };
  if (/^[0-9]+$/.test(user)) {
    owner.uid = owner.gid = Number(user);
  } else if (user !== '') {
    const entry = parsePasswd((await readInRoot(root, '/etc/passwd')) ?? '').find((e) => e.name === user);
    if (entry) {
      owner.uid = entry.uid;
      owner.gid = entry.gid;
    }
  }
  if (group !== undefined && group !== '') {
    if (/^[0-9]+$/.test(group)) owner.gid = Number(group);
    else {
      const entry = parseGroup((await readInRoot(root, '/etc/group')) ?? '').find((e) => e.name === group);
      if (entry) owner.gid = entry.gid;
    }
  }
  return owner;
}
