/**
 * USER resolution against the image's own /etc/passwd and /etc/group, with the rules of runc's
 * libcontainer/user `GetExecUser` as BuildKit applies them (executor/oci/user.go):
 * - `uid:gid` (both numeric) is taken as-is, with no supplementary groups;
 * - a name must exist in /etc/passwd; a numeric uid need not (gid then defaults to 0);
 * - without an explicit group, the primary gid comes from passwd and the supplementary
 *   groups are every /etc/group entry that lists the user's name;
 * - with an explicit group (name or gid), that group is the primary and there are no
 *   supplementary groups.
 */
import { readFileSync } from 'node:fs';
import type { ResolvedUser } from './types.js';
import { resolveInRoot } from './root-path.js';
import { UserNotFoundError } from './errors.js';

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}
interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

const NUMERIC = /^[0-9]+$/;
const MAX_ID = 2 ** 31 - 1;

function parseId(s: string): number | undefined {
  if (!NUMERIC.test(s)) return undefined;
  const n = Number(s);
  return n <= MAX_ID ? n : undefined;
}

/** Parses /etc/passwd text, skipping malformed lines like libcontainer does. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    const f = t.split(':');
    const uid = parseId(f[2] ?? '');
    const gid = parseId(f[3] ?? '');
    if (f[0] === undefined || uid === undefined) continue;
    out.push({ name: f[0], uid, gid: gid ?? 0 });
  }
  return out;
}

/** Parses /etc/group text. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (t === '' || t.startsWith('#')) continue;
    const f = t.split(':');
    const gid = parseId(f[2] ?? '');
    if (f[0] === undefined || gid === undefined) continue;
    out.push({ name: f[0], gid, members: (f[3] ?? '').split(',').map((m) => m.trim()).filter(Boolean) });
  }
  return out;
}

async function readInRoot(rootfs: string, file: string): Promise<string | undefined> {
  try {
    // Synchronous: two small files per RUN; an async read costs several thread-pool round trips.
    return readFileSync(await resolveInRoot(rootfs, file), 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Pure part of {@link resolveUser}: resolves `userSpec` against passwd and group texts
 * (undefined when the file does not exist).
 */
export function resolveUserFrom(userSpec: string, passwdText: string | undefined, groupText: string | undefined): ResolvedUser {
  const spec = userSpec.trim();
  if (spec === '') return { uid: 0, gid: 0, additionalGids: [] };
  const colon = spec.indexOf(':');
  const userPart = colon === -1 ? spec : spec.slice(0, colon);
  const groupPart = colon === -1 ? undefined : spec.slice(colon + 1);
  // Fast path: fully numeric uid:gid needs no files.
  if (groupPart !== undefined && parseId(userPart) !== undefined && parseId(groupPart) !== undefined) {
    return { uid: parseId(userPart) as number, gid: parseId(groupPart) as number, additionalGids: [] };
  }
  const passwd = passwdText === undefined ? [] : parsePasswd(passwdText);
  const groups = groupText === undefined ? [] : parseGroup(groupText);

  let uid: number;
  let gid = 0;
  let name = '';
  const numericUid = parseId(userPart);
  const byName = passwd.find((p) => p.name === userPart);
  const entry = byName ?? (numericUid !== undefined ? passwd.find((p) => p.uid === numericUid) : undefined);
  if (entry) {
    uid = entry.uid;
    gid = entry.gid;
    name = entry.name;
  } else if (numericUid !== undefined) {
    uid = numericUid;
  } else {
    throw new UserNotFoundError(
      `unable to find user ${userPart}: no matching entries in passwd file. Create the user in an earlier step (e.g. RUN adduser) or use a numeric uid.`,
      { user: userPart },
    );
  }

  if (groupPart !== undefined && groupPart !== '') {
    const numericGid = parseId(groupPart);
    const g = groups.find((x) => x.name === groupPart) ?? (numericGid !== undefined ? groups.find((x) => x.gid === numericGid) : undefined);
    if (g) gid = g.gid;
    else if (numericGid !== undefined) gid = numericGid;
    else
      throw new UserNotFoundError(`unable to find group ${groupPart}: no matching entries in group file. Create the group first or use a numeric gid.`, {
        group: groupPart,
      });
    return { uid, gid, additionalGids: [] };
  }
  const additionalGids: number[] = [];
  if (name !== '') {
    for (const g of groups) if (g.members.includes(name) && !additionalGids.includes(g.gid)) additionalGids.push(g.gid);
  }
  return { uid, gid, additionalGids };
}

/**
 * Resolves a Dockerfile `USER` value inside `rootfs`.
 *
 * @example
 * ```ts
 * await resolveUser('/s/merged', 'app')      // { uid: 1000, gid: 1000, additionalGids: [27] }
 * await resolveUser('/s/merged', '1000:50')  // { uid: 1000, gid: 50, additionalGids: [] }
 * ```
 */
export async function resolveUser(rootfs: string, userSpec: string): Promise<ResolvedUser> {
  const spec = userSpec.trim();
  if (spec === '') return { uid: 0, gid: 0, additionalGids: [] };
  return resolveUserFrom(spec, await readInRoot(rootfs, '/etc/passwd'), await readInRoot(rootfs, '/etc/group'));
}
