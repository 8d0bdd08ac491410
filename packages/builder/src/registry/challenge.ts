/** Parsing of `WWW-Authenticate` challenges (RFC 7235) as registries send them. */

export interface AuthChallenge {
  scheme: 'basic' | 'bearer';
  /** Lowercased parameter names → values (`realm`, `service`, `scope`, `error`). */
  params: Record<string, string>;
}

/**
 * Parses the first Basic or Bearer challenge of a `WWW-Authenticate` header.
 * @example `parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io"')`
 */
export function parseChallenge(header: string | null): AuthChallenge | undefined {
  if (!header) return undefined;
  // Challenges may be comma-joined; a new one starts with a token followed by a space and no '='.
  const re = /([A-Za-z][A-Za-z0-9_-]*)\s+((?:[A-Za-z0-9_-]+\s*=\s*(?:"(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?\s*)*)/g;
  for (let m = re.exec(header); m; m = re.exec(header)) {
    const scheme = m[1]!.toLowerCase();
    if (scheme !== 'basic' && scheme !== 'bearer') continue;
    const params: Record<string, string> = {};
    const pre = /([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
    for (let p = pre.exec(m[2]!); p; p = pre.exec(m[2]!)) {
      params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
    }
    return { scheme, params };
  }
  return undefined;
}
