/**
 * Image references as the engine and the distribution spec read them (distribution/reference's
 * grammar): `[domain[:port]/]path[:tag]`, path components lowercase, a tag of at most 128
 * characters. Pure: used to refuse a bad tag before anything is built, and to tell whether two
 * spellings (`example-host`, `docker.io/library/example-host:latest`) name the same image.
 */

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN = /^(?:localhost|(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const MAX_NAME = 255;

export interface TagRef {
  /** `docker.io/library/example-host` for `example-host`. */
  repository: string;
  tag: string;
}

/** The reference's parts, or why it is not a tag reference (digests are refused: a tag is what gets moved). */
export function parseTagRef(ref: string): TagRef | { problem: string } {
  if (ref === '') return { problem: 'it is empty' };
  if (/[^\x21-\x7e]/.test(ref)) return { problem: 'it holds a space, a control character or a non-ASCII character' };
  if (ref.includes('@')) return { problem: 'it is a digest reference; deploy tags an image, a digest names one' };
  const slash = ref.lastIndexOf('/');
  const colon = ref.lastIndexOf(':');
  const hasTag = colon > slash;
  const name = hasTag ? ref.slice(0, colon) : ref;
  const tag = hasTag ? ref.slice(colon + 1) : 'latest';
  if (!TAG.test(tag)) return { problem: `the tag ${JSON.stringify(tag)} is not [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}` };
  if (name.length > MAX_NAME) return { problem: `the name is longer than ${MAX_NAME} characters` };
  const parts = name.split('/');
  const first = parts[0]!;
  // The first component is a registry when it looks like a host: a dot, a port, or localhost.
  const hasDomain = parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase());
  const domain = hasDomain ? first : 'docker.io';
  const path = hasDomain ? parts.slice(1) : parts;
  if (hasDomain && !DOMAIN.test(domain)) return { problem: `${JSON.stringify(domain)} is not a registry host[:port]` };
  const bad = path.find((p) => !COMPONENT.test(p));
  if (bad !== undefined) return { problem: `the path component ${JSON.stringify(bad)} is not lowercase letters and digits joined by . _ __ or -` };
  const fullPath = domain === 'docker.io' && path.length === 1 ? ['library', ...path] : path;
  return { repository: `${domain === 'index.docker.io' ? 'docker.io' : domain}/${fullPath.join('/')}`, tag };
}

/** The one spelling of a tag reference (`docker.io/library/x:latest`), or null for anything else (a digest, an ID). */
export function normalTagRef(ref: string): string | null {
  const parsed = parseTagRef(ref);
  return 'problem' in parsed ? null : `${parsed.repository}:${parsed.tag}`;
}
