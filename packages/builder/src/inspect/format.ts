/** The readable form of an {@link ImageInspection}: a `docker image inspect` digest, then `docker history`. */
import { humanSize } from '../progress/tty.js';
import type { ImageInspection } from './inspect.js';

function row(name: string, value: string | undefined): string[] {
  return value === undefined || value === '' ? [] : [`${name.padEnd(12)}${value}`];
}

/** Text for `build-image inspect`: the image's identity and config, then its history newest first (like `docker history`). */
export function formatInspection(info: ImageInspection): string {
  const c = info.config;
  const out: string[] = [
    ...row('Source', info.source),
    ...row('Digest', info.digest),
    ...row('MediaType', info.mediaType),
    ...(info.index ? row('Index', `${info.index.digest}${info.index.platforms.length ? ` (${info.index.platforms.join(', ')})` : ''}`) : []),
    ...row('Config', info.configDigest),
    ...row('Platform', info.platform),
    ...row('Created', info.created),
    ...row('Author', info.author),
    ...row('Size', `${humanSize(info.size)} (${info.size} bytes, ${info.layers.length} layer${info.layers.length === 1 ? '' : 's'})`),
    ...row('User', c.User),
    ...row('WorkingDir', c.WorkingDir),
    ...row('Entrypoint', c.Entrypoint ? JSON.stringify(c.Entrypoint) : undefined),
    ...row('Cmd', c.Cmd ? JSON.stringify(c.Cmd) : undefined),
    ...(c.Env ?? []).flatMap((e, i) => row(i === 0 ? 'Env' : '', e)),
    ...Object.keys(c.ExposedPorts ?? {}).sort().flatMap((p, i) => row(i === 0 ? 'Expose' : '', p)),
    ...Object.keys(c.Volumes ?? {}).sort().flatMap((v, i) => row(i === 0 ? 'Volumes' : '', v)),
    ...Object.entries(c.Labels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).flatMap(([k, v], i) => row(i === 0 ? 'Labels' : '', `${k}=${v}`)),
    ...row('StopSignal', c.StopSignal),
    ...row('Shell', c.Shell ? JSON.stringify(c.Shell) : undefined),
    ...row('Healthcheck', c.Healthcheck ? JSON.stringify(c.Healthcheck) : undefined),
    ...row('OnBuild', c.OnBuild?.length ? JSON.stringify(c.OnBuild) : undefined),
  ];
  const text = out;
  const rows = [...info.history].reverse().map((h) => [
    h.layer ? h.layer.slice(7, 19) : '<missing>',
    h.created ?? '',
    (h.createdBy ?? '').replace(/\s+/g, ' '),
    humanSize(h.size),
    h.comment ?? '',
  ]);
  const head = ['LAYER', 'CREATED', 'CREATED BY', 'SIZE', 'COMMENT'];
  const widths = head.map((_, i) => Math.max(head[i]!.length, ...rows.map((r) => Math.min(r[i]!.length, i === 2 ? 60 : 64))));
  const cell = (v: string, i: number) => (v.length > widths[i]! ? v.slice(0, widths[i]! - 1) + '…' : v).padEnd(widths[i]!);
  const table = [head, ...rows].map((r) => r.map(cell).join('   ').trimEnd());
  return `${text.join('\n')}\n\nHistory (newest first):\n${table.join('\n')}\n`;
}
