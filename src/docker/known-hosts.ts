import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * OpenSSH's known_hosts, as sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT" describes it: per line an
 * optional marker (@revoked, @cert-authority), comma-separated host patterns (plain, with * and ?
 * wildcards, ! negations, `[host]:port` for a port other than 22, or hashed `|1|salt|hmac`), a key
 * type and the base64 key. Pure: text and a host key in, a verdict out.
 */

export type HostKeyVerdict = { ok: true } | { ok: false; reason: 'unknown' | 'mismatch' | 'revoked'; knownTypes: string[] };

interface Entry {
  marker: '' | '@revoked' | '@cert-authority';
  patterns: string[];
  keyType: string;
  key: Buffer;
}

function parseLine(line: string): Entry | null {
  const fields = line.trim().split(/\s+/);
  if (fields.length === 0 || fields[0] === '' || fields[0]!.startsWith('#')) return null;
  let marker: Entry['marker'] = '';
  if (fields[0] === '@revoked' || fields[0] === '@cert-authority') marker = fields.shift() as Entry['marker'];
  else if (fields[0]!.startsWith('@')) return null;
  const [patterns, keyType, key64] = fields;
  if (!patterns || !keyType || !key64 || !/^[A-Za-z0-9+/]+=*$/.test(key64)) return null;
  return { marker, patterns: patterns.split(','), keyType, key: Buffer.from(key64, 'base64') };
}

/** How ssh writes the host in known_hosts: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host.toLowerCase() : `[${host.toLowerCase()}]:${port}`;
}

function glob(pattern: string, name: string): boolean {
  const re = new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 'i');
  return re.test(name);
}

function hashedMatches(pattern: string, name: string): boolean {
  const parts = pattern.split('|');
  if (parts.length !== 4 || parts[1] !== '1') return false;
  const salt = Buffer.from(parts[2]!, 'base64');
  const expected = Buffer.from(parts[3]!, 'base64');
  const actual = createHmac('sha1', salt).update(name).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** A negated pattern that matches rules the line out, whatever else matches (match_hostname). */
function lineMatches(patterns: string[], name: string): boolean {
  let matched = false;
  for (const raw of patterns) {
    const negated = raw.startsWith('!');
    const pattern = negated ? raw.slice(1) : raw;
    const hit = pattern.startsWith('|') ? hashedMatches(pattern, name) : glob(pattern, name);
    if (hit && negated) return false;
    if (hit) matched = true;
  }
  return matched;
}

export function checkHostKey(knownHosts: string, host: string, port: number, key: Buffer): HostKeyVerdict {
  const name = knownHostsName(host, port);
  const entries = knownHosts.split('\n').map(parseLine).filter((e): e is Entry => e !== null && e.marker !== '@cert-authority' && lineMatches(e.patterns, name));
  if (entries.some((e) => e.marker === '@revoked' && e.key.equals(key))) return { ok: false, reason: 'revoked', knownTypes: [] };
  const plain = entries.filter((e) => e.marker === '');
  if (plain.some((e) => e.key.equals(key))) return { ok: true };
  return { ok: false, reason: plain.length === 0 ? 'unknown' : 'mismatch', knownTypes: plain.map((e) => e.keyType) };
}
