/**
 * Image references as the distribution project's `reference` package reads them
 * (`[domain[:port]/]path[:tag][@sha256:hex]`): a first component with a `.` or `:`, or
 * `localhost`, is a registry; otherwise the reference is Docker Hub's. Only sha256 digests are
 * accepted: they are what the lockfile pins.
 */

export interface Reference {
  /** The registry as written (`127.0.0.1:5000`, `ghcr.io`), `docker.io` when none was. */
  registry: string;
  /** The repository path (`team/plugins`; `library/x` for an official Hub name). */
  repository: string;
  tag?: string;
  /** `sha256:<64 hex>` */
  digest?: string;
}

export class ReferenceError extends Error {}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
export const DIGEST = /^sha256:[0-9a-f]{64}$/;
const DOMAIN_LABEL = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const MAX_NAME = 255;

function isDomain(first: string): boolean {
  return first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase();
}

function checkDomain(domain: string, text: string): void {
  const bracketed = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(domain);
  if (bracketed) return checkPort(bracketed[2], text);
  const [host, port, ...rest] = domain.split(':');
  if (rest.length > 0 || !host || !host.split('.').every((l) => DOMAIN_LABEL.test(l))) throw new ReferenceError(`"${text}": "${domain}" is not a registry host[:port]`);
  checkPort(port, text);
}

function checkPort(port: string | undefined, text: string): void {
  if (port === undefined) return;
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535) throw new ReferenceError(`"${text}": the registry port must be 1-65535`);
}

export function parseReference(text: string): Reference {
  if (text.length === 0 || text.length > 4096) throw new ReferenceError('a reference is 1 to 4096 characters');
  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw new ReferenceError(`"${text}": the digest must be sha256:<64 lowercase hex digits>`);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw new ReferenceError(`"${text}": "${tag}" is not a tag (letters, digits, _ . -, at most 128, not starting with . or -)`);
  }
  const parts = rest.split('/');
  let registry = 'docker.io';
  if (parts.length > 1 && isDomain(parts[0]!)) {
    registry = parts.shift()!;
    checkDomain(registry, text);
  }
  if (parts.length === 0 || !parts.every((p) => COMPONENT.test(p))) {
    throw new ReferenceError(`"${text}": the repository must be lowercase path components (letters, digits, and . _ __ - between them)`);
  }
  let repository = parts.join('/');
  if (registry === 'docker.io' && parts.length === 1) repository = `library/${repository}`;
  if (`${registry}/${repository}`.length > MAX_NAME) throw new ReferenceError(`"${text}": the name is longer than ${MAX_NAME} characters`);
  return { registry, repository, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** `registry/repository[:tag][@digest]`, as parseReference reads it back. */
export function formatReference(ref: Reference): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** The same repository pinned to a digest (a tag, if any, is dropped: the digest is what counts). */
export function pinned(ref: Reference, digest: string): Reference {
  return { registry: ref.registry, repository: ref.repository, digest };
}

/** Where the registry's API answers: Docker Hub's API host is not its name. */
export function apiHost(registry: string): string {
  return registry === 'docker.io' || registry === 'index.docker.io' ? 'registry-1.docker.io' : registry;
}

/** Loopback registries are spoken to in plain HTTP, as the engine does; any other only over TLS unless told. */
export function isLoopbackRegistry(registry: string): boolean {
  const host = registry.startsWith('[') ? registry.slice(1, registry.indexOf(']')) : registry.split(':')[0]!;
  return host === 'localhost' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host) || host === '::1';
}
