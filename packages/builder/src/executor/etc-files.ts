/**
 * Contents of the /etc/hosts and /etc/resolv.conf files a RUN sees, as BuildKit generates them
 * (executor/oci/hosts.go, executor/oci/resolvconf.go with libnetwork's FilterResolvDNS).
 * Pure string functions; the executor writes them and bind-mounts them read-only.
 */
import type { NetworkMode } from './types.js';
import { DEFAULT_HOSTNAME } from './spec.js';

/**
 * The hosts file: loopback names plus the sandbox hostname, then `--add-host` entries.
 *
 * @example
 * ```ts
 * hostsFileContent() // '127.0.0.1\tlocalhost buildkitsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n'
 * ```
 */
export function hostsFileContent(hostname: string = DEFAULT_HOSTNAME, extraHosts: ReadonlyArray<{ host: string; ip: string }> = []): string {
  let out = `127.0.0.1\tlocalhost ${hostname || DEFAULT_HOSTNAME}\n::1\tlocalhost ip6-localhost ip6-loopback\n`;
  for (const h of extraHosts) out += `${h.ip}\t${h.host}\n`;
  return out;
}

const LOCALHOST_NS = /^nameserver\s+((127\.([0-9]{1,3}\.){2}[0-9]{1,3})|(::1)$)\s*\n*/gm;
const NAMESERVER = /^\s*nameserver\s*(\S+)/gm;

/** The nameserver addresses listed in a resolv.conf text. */
export function nameservers(resolvConf: string): string[] {
  return [...resolvConf.matchAll(NAMESERVER)].map((m) => m[1] as string);
}

/**
 * Drops loopback nameservers (unreachable from another network namespace) and, when none is
 * left, appends Google's public resolvers, IPv4 and IPv6, exactly as libnetwork does.
 */
export function filterResolvDns(resolvConf: string): string {
  let cleaned = resolvConf.replace(LOCALHOST_NS, '');
  if (nameservers(cleaned).length === 0) {
    cleaned += '\n' + ['nameserver 8.8.8.8', 'nameserver 8.8.4.4', 'nameserver 2001:4860:4860::8888', 'nameserver 2001:4860:4860::8844'].join('\n');
  }
  return cleaned;
}

/**
 * The resolv.conf of a RUN: the host's file unchanged for host networking (loopback resolvers
 * such as systemd-resolved's 127.0.0.53 are reachable there), filtered otherwise, and also
 * filtered when the host file names no nameserver at all (BuildKit's rule).
 */
export function resolvConfContent(hostResolvConf: string, network: NetworkMode): string {
  if (network !== 'host' || nameservers(hostResolvConf).length === 0) return filterResolvDns(hostResolvConf);
  return hostResolvConf;
}
