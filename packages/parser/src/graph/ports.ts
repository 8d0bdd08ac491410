/**
 * EXPOSE port specs as BuildKit reads them (`[ip:][hostPort:]port[-end][/proto]`), returned as the
 * `port/proto` keys of the image config's ExposedPorts.
 */
export class PortError extends Error {}

function portNumber(raw: string): number {
  if (raw === '') throw new PortError('value is empty');
  if (!/^[+-]?[0-9]+$/.test(raw)) throw new PortError('invalid syntax');
  const n = Number(raw);
  if (n < 0 || n > 65535) throw new PortError('value out of range (0–65535)');
  return n;
}

function portRange(ports: string): [number, number] {
  if (ports === '') throw new PortError('empty string specified for ports');
  const dash = ports.indexOf('-');
  const start = dash === -1 ? ports : ports.slice(0, dash);
  const end = dash === -1 ? '' : ports.slice(dash + 1);
  const s = portNumber(start);
  if (dash === -1 || start === end) return [s, s];
  const e = portNumber(end);
  if (e < s) throw new PortError(`invalid port range: ${ports}`);
  return [s, e];
}

/** @example parsePorts(['80', '53/UDP', '8000-8001']) // ['80/tcp', '53/udp', '8000/tcp', '8001/tcp'] */
export function parsePorts(specs: readonly string[]): string[] {
  const out: string[] = [];
  for (const raw of specs) {
    const parts = raw.split(':');
    const containerPart = parts[parts.length - 1]!;
    const hostPort = parts.length >= 2 ? parts[parts.length - 2]! : '';
    const slash = containerPart.indexOf('/');
    const port = slash === -1 ? containerPart : containerPart.slice(0, slash);
    let proto = slash === -1 ? '' : containerPart.slice(slash + 1);
    if (port === '') throw new PortError(`invalid port: "${raw}": no port specified`);
    if (proto === '') proto = 'tcp';
    else if (!['tcp', 'udp', 'sctp'].includes(proto.toLowerCase())) throw new PortError(`invalid port: "${raw}": invalid proto: ${proto}`);
    let range: [number, number];
    try {
      range = portRange(port);
    } catch {
      throw new PortError(`invalid containerPort: ${port}`);
    }
    if (hostPort !== '') {
      let hr: [number, number];
      try {
        hr = portRange(hostPort);
      } catch {
        throw new PortError(`invalid hostPort: ${hostPort}`);
      }
      if (range[1] - range[0] !== hr[1] - hr[0] && range[1] !== range[0]) {
        throw new PortError(`invalid ranges specified for container and host Ports: ${port} and ${hostPort}`);
      }
    }
    for (let p = range[0]; p <= range[1]; p++) out.push(`${p}/${proto.toLowerCase()}`);
  }
  return out;
}
