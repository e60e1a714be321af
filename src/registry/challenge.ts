/**
 * A `WWW-Authenticate` challenge (RFC 7235) as registries send it:
 * `Bearer realm="https://auth.example/token",service="registry",scope="repository:x:pull"`.
 * Only the first challenge is read; parameters are token or quoted-string values.
 */
export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

const MAX_HEADER = 8192;

export function parseChallenge(header: string | undefined): Challenge | null {
  if (!header || header.length > MAX_HEADER) return null;
  const scheme = /^\s*([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)/.exec(header);
  if (!scheme) return null;
  const params: Record<string, string> = Object.create(null);
  let rest = header.slice(scheme[0].length);
  const param = /^\s*,?\s*([A-Za-z0-9!#$%&'*+.^_`|~-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([A-Za-z0-9!#$%&'*+.^_`|~/:-]+))/;
  for (let i = 0; i < 32; i++) {
    const m = param.exec(rest);
    if (!m) break;
    const name = m[1]!.toLowerCase();
    if (!Object.hasOwn(params, name)) params[name] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : m[3]!;
    rest = rest.slice(m[0].length);
  }
  return { scheme: scheme[1]!.toLowerCase(), params };
}
