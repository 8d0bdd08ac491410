/**
 * `RUN --mount=type=cache,target=/root/.cache,...`: the CSV value is split when the instruction is
 * parsed (only `from` is checked then, as in BuildKit), and validated into a {@link Mount} after
 * word expansion, with BuildKit's defaults (bind, read-only unless cache/tmpfs, ...).
 */
import type { CacheSharing, Mount, MountField, MountSpec, MountType } from './types.js';
import { withSuggestion } from './suggest.js';

export class MountError extends Error {}

const MOUNT_TYPES: readonly MountType[] = ['bind', 'cache', 'tmpfs', 'secret', 'ssh'];
const SHARING: readonly CacheSharing[] = ['shared', 'private', 'locked'];
const ALL_KEYS = ['type', 'from', 'source', 'target', 'readonly', 'id', 'sharing', 'required', 'size', 'mode', 'uid', 'gid', 'src', 'dst', 'destination', 'ro', 'rw', 'readwrite', 'env'];

/** Splits one CSV record the way Go's encoding/csv does (quotes with `""` escapes). */
export function splitCsv(text: string): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (text[i] === '"') {
      let value = '';
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q === -1) throw new MountError(`failed to parse csv mounts: parse error on line 1, column ${text.length + 1}: extraneous or missing " in quoted-field`);
        value += text.slice(i, q);
        i = q + 1;
        if (text[i] === '"') {
          value += '"';
          i++;
          continue;
        }
        if (i < text.length && text[i] !== ',') throw new MountError(`failed to parse csv mounts: parse error on line 1, column ${i + 1}: extraneous or missing " in quoted-field`);
        break;
      }
      fields.push(value);
    } else {
      const comma = text.indexOf(',', i);
      const end = comma === -1 ? text.length : comma;
      const value = text.slice(i, end);
      const bare = value.indexOf('"');
      if (bare !== -1) throw new MountError(`failed to parse csv mounts: parse error on line 1, column ${i + bare + 1}: bare " in non-quoted-field`);
      fields.push(value);
      i = end;
    }
    if (i >= text.length) break;
    i++; // the comma
    if (i === text.length) {
      fields.push('');
      break;
    }
  }
  return fields;
}

/**
 * Parse-time split of a `--mount` value. Like BuildKit, only `from` is checked here: it may not
 * use variables (`from=$X`), because stage dependencies are fixed before any ARG is known.
 */
export function parseMountSpec(raw: string): MountSpec {
  const fields: MountField[] = [];
  for (const field of splitCsv(raw)) {
    const eq = field.indexOf('=');
    if (eq === -1) {
      fields.push({ key: field.toLowerCase() });
      continue;
    }
    const key = field.slice(0, eq).toLowerCase();
    const value = field.slice(eq + 1);
    if (key === 'from') {
      const dollar = value.indexOf('$');
      if (dollar !== -1 && dollar !== value.length - 1) throw new MountError(`'from' doesn't support variable expansion, define alias stage instead`);
    }
    fields.push({ key, value });
  }
  return { raw, fields };
}

/** Go strconv.ParseBool. */
export function parseGoBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  return undefined;
}

function parseUint(v: string, radix: 8 | 10): number | undefined {
  const re = radix === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
  if (!re.test(v)) return undefined;
  const n = parseInt(v, radix);
  return n > 0xffffffff ? undefined : n;
}

/** docker/go-units RAMInBytes: `64m`, `1.5GiB`, `512` (binary multiples). */
export function ramInBytes(v: string): number {
  const m = /^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/.exec(v);
  if (!m) throw new MountError(`invalid size: '${v}'`);
  const size = Number(m[1]);
  if (Number.isNaN(size)) throw new MountError(`invalid size: '${v}'`);
  const unit = (m[2] ?? '').toLowerCase();
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 }[unit] ?? 1;
  return Math.trunc(size * mult);
}

/**
 * Validates a mount after its values were expanded (`expand` is applied to every `key=value`
 * value, as BuildKit does), returning the mount with BuildKit's defaults.
 *
 * @example resolveMount(parseMountSpec('type=cache,target=/c'), (w) => w).readOnly // false
 */
export function resolveMount(spec: MountSpec, expand: (word: string) => string): Mount {
  const m: Mount = { type: 'bind', from: '', source: '', target: '', readOnly: false, sizeLimit: 0, id: '', sharing: '', required: false };
  let roAuto = true;
  const invalidValue = (key: string, value: string) => new MountError(`invalid value for ${key}: ${value}`);
  for (const field of spec.fields) {
    const key = field.key;
    if (field.value === undefined) {
      switch (key) {
        case 'readonly':
        case 'ro':
          m.readOnly = true;
          roAuto = false;
          continue;
        case 'readwrite':
        case 'rw':
          m.readOnly = false;
          roAuto = false;
          continue;
        case 'required':
          if (m.type === 'secret' || m.type === 'ssh') {
            m.required = true;
            continue;
          }
          throw new MountError(`unexpected key '${key}' for mount type '${m.type}'`);
        default:
          throw new MountError(`invalid field '${key}' must be a key=value pair`);
      }
    }
    const value = expand(field.value);
    switch (key) {
      case 'type': {
        const t = value.toLowerCase() as MountType;
        if (!MOUNT_TYPES.includes(t)) throw new MountError(withSuggestion(`unsupported mount type "${value}"`, value, MOUNT_TYPES) + `; use one of ${MOUNT_TYPES.join(', ')}`);
        m.type = t;
        break;
      }
      case 'from':
        m.from = value;
        break;
      case 'source':
      case 'src':
        m.source = value;
        break;
      case 'target':
      case 'dst':
      case 'destination':
        m.target = value;
        break;
      case 'readonly':
      case 'ro': {
        const b = parseGoBool(value);
        if (b === undefined) throw invalidValue(key, value);
        m.readOnly = b;
        roAuto = false;
        break;
      }
      case 'readwrite':
      case 'rw': {
        const b = parseGoBool(value);
        if (b === undefined) throw invalidValue(key, value);
        m.readOnly = !b;
        roAuto = false;
        break;
      }
      case 'required': {
        if (m.type !== 'secret' && m.type !== 'ssh') throw new MountError(`unexpected key '${key}' for mount type '${m.type}'`);
        const b = parseGoBool(value);
        if (b === undefined) throw invalidValue(key, value);
        m.required = b;
        break;
      }
      case 'size':
        if (m.type !== 'tmpfs') throw new MountError(`unexpected key '${key}' for mount type '${m.type}'`);
        try {
          m.sizeLimit = ramInBytes(value);
        } catch {
          throw invalidValue(key, value);
        }
        break;
      case 'id':
        m.id = value;
        break;
      case 'sharing': {
        const s = value.toLowerCase() as CacheSharing;
        if (!SHARING.includes(s)) throw new MountError(withSuggestion(`unsupported sharing value "${value}"`, value, SHARING) + `; use one of ${SHARING.join(', ')}`);
        m.sharing = s;
        break;
      }
      case 'mode': {
        const n = parseUint(value, 8);
        if (n === undefined) throw new MountError(`invalid value ${value} for mode`);
        m.mode = n;
        break;
      }
      case 'uid': {
        const n = parseUint(value, 10);
        if (n === undefined) throw new MountError(`invalid value ${value} for uid`);
        m.uid = n;
        break;
      }
      case 'gid': {
        const n = parseUint(value, 10);
        if (n === undefined) throw new MountError(`invalid value ${value} for gid`);
        m.gid = n;
        break;
      }
      case 'env':
        m.env = value;
        break;
      default:
        throw new MountError(withSuggestion(`unexpected key '${key}' in '${key}=${field.value}'`, key, ALL_KEYS));
    }
  }
  const fileInfoAllowed = m.type === 'secret' || m.type === 'ssh' || m.type === 'cache';
  if (!fileInfoAllowed) {
    if (m.mode !== undefined) throw new MountError(`mode not allowed for "${m.type}" type mounts`);
    if (m.uid !== undefined) throw new MountError(`uid not allowed for "${m.type}" type mounts`);
    if (m.gid !== undefined) throw new MountError(`gid not allowed for "${m.type}" type mounts`);
  }
  if (roAuto) m.readOnly = !(m.type === 'cache' || m.type === 'tmpfs');
  if (m.type === 'secret') {
    if (m.from !== '') throw new MountError('secret mount should not have a from');
    if (m.sharing !== '') throw new MountError('secret mount should not define sharing');
    if (m.source === '' && m.target === '' && m.id === '') throw new MountError('invalid secret mount. one of source, target required');
    if (m.source !== '' && m.id !== '') throw new MountError("both source and id can't be set");
  }
  if (m.sharing !== '' && m.type !== 'cache') throw new MountError(`invalid cache sharing set for ${m.type} mount`);
  return m;
}
