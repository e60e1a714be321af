import type { Readable } from 'node:stream';
import { apiHost, isLoopbackRegistry, type Reference } from '../oci/reference.js';
import { digestOf } from '../oci/descriptor.js';
import { OCI_INDEX, OCI_MANIFEST } from '../oci/media-types.js';
import { printable } from '../util/printable.js';
import { type Challenge, parseChallenge } from './challenge.js';
import type { CredentialSource, Credentials } from './credentials.js';
import { discard, type HttpAnswer, type HttpRequest, readBounded, type Transport } from './http.js';
import { RegistryError } from './registry-error.js';

export interface RegistryClientOptions {
  transport: Transport;
  credentials: CredentialSource;
  /** Speak plain HTTP to a registry that is not on loopback (never by a redirect). */
  plainHttp?: boolean;
  /** Bound on a manifest or index. */
  maxDocumentBytes: number;
}

const MAX_REDIRECTS = 5;
const MAX_SMALL_ANSWER = 1024 * 1024;
const ACCEPT = `${OCI_INDEX}, ${OCI_MANIFEST}`;

type Scope = 'pull' | 'pull,push';

export interface FetchedDocument {
  bytes: Buffer;
  digest: string;
  mediaType: string;
}

/** The registry's words for a failed request: its status and the first error of its JSON body. */
async function describeFailure(answer: HttpAnswer): Promise<string> {
  let detail = '';
  try {
    const body = JSON.parse((await readBounded(answer.body, 64 * 1024, 'the error')).toString('utf8')) as { errors?: Array<{ code?: string; message?: string }> };
    const first = body.errors?.[0];
    if (first) detail = `: ${printable(String(first.code ?? ''))} ${printable(String(first.message ?? '')).slice(0, 300)}`;
  } catch {
    // A non-JSON error body says nothing more than its status.
  }
  return `HTTP ${answer.status}${detail}`;
}

/**
 * The distribution API for one repository: documents and blobs by digest, uploads, manifests.
 * Redirects are followed here, at most five, never from https to http; a 401 is answered once
 * per request with the challenge's scheme (a bearer token from its realm, or basic).
 */
export class RegistryClient {
  private readonly tokens = new Map<string, string>();
  private basic: Credentials | null | undefined;
  /** The registry challenged with Basic: credentials go with every request (over TLS or to loopback only). */
  private useBasic = false;
  readonly origin: URL;

  constructor(readonly ref: Pick<Reference, 'registry' | 'repository'>, private readonly options: RegistryClientOptions) {
    const plain = isLoopbackRegistry(ref.registry) || options.plainHttp === true;
    this.origin = new URL(`${plain ? 'http' : 'https'}://${apiHost(ref.registry)}`);
  }

  private url(path: string): URL {
    return new URL(`/v2/${this.ref.repository}/${path}`, this.origin);
  }

  private allowed(url: URL): boolean {
    if (url.protocol === 'https:') return true;
    if (url.protocol !== 'http:') return false;
    return isLoopbackRegistry(url.host) || (this.options.plainHttp === true && url.host === this.origin.host);
  }

  private async credentials(): Promise<Credentials | null> {
    if (this.basic === undefined) this.basic = await this.options.credentials(this.ref.registry);
    return this.basic;
  }

  private authHeader(scope: Scope): string | undefined {
    const token = this.tokens.get(scope);
    if (token) return `Bearer ${token}`;
    if (this.basic && this.useBasic) return `Basic ${Buffer.from(`${this.basic.username}:${this.basic.password}`).toString('base64')}`;
    return undefined;
  }

  /** Answer a challenge: fetch a token from its realm, or arm basic auth. False: nothing more to try. */
  private async authenticate(challenge: Challenge | null, scope: Scope, signal: AbortSignal): Promise<boolean> {
    const credentials = await this.credentials();
    if (challenge?.scheme === 'basic') {
      if (!credentials || this.useBasic) return false;
      this.useBasic = true;
      return true;
    }
    if (challenge?.scheme !== 'bearer' || !challenge.params.realm) return false;
    let realm: URL;
    try {
      realm = new URL(challenge.params.realm);
    } catch {
      throw new RegistryError('REGISTRY_AUTH_FAILED', `${this.origin.host} names a token realm that is not a URL: ${printable(challenge.params.realm.slice(0, 200))}`);
    }
    if (!this.allowed(realm)) {
      throw new RegistryError('REGISTRY_INSECURE', `${this.origin.host} asks for credentials at ${realm.protocol}//${realm.host}, over plain HTTP: refused.`, { fix: 'Configure the registry with an https token realm.' });
    }
    realm.searchParams.set('scope', `repository:${this.ref.repository}:${scope}`);
    if (challenge.params.service) realm.searchParams.set('service', challenge.params.service);
    const headers: Record<string, string> = {};
    if (credentials) headers.authorization = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
    const answer = await this.exchange({ method: 'GET', url: realm, headers }, signal);
    if (answer.status !== 200) {
      const why = await describeFailure(answer);
      throw new RegistryError('REGISTRY_AUTH_FAILED', `The token service ${realm.host} refused ${credentials ? `the credentials of ${credentials.username}` : 'an anonymous request'} for ${scope} on ${this.ref.repository} (${why}).`, { fix: `Log in with \`docker login ${this.ref.registry}\`, or check the repository's permissions.` });
    }
    let token: unknown;
    try {
      const body = JSON.parse((await readBounded(answer.body, MAX_SMALL_ANSWER, 'the token answer')).toString('utf8')) as { token?: unknown; access_token?: unknown };
      token = body.token ?? body.access_token;
    } catch {
      token = undefined;
    }
    if (typeof token !== 'string' || token === '' || token.length > 64 * 1024 || !/^[\x21-\x7e]+$/.test(token)) {
      throw new RegistryError('REGISTRY_AUTH_FAILED', `The token service ${realm.host} answered without a usable token.`);
    }
    this.tokens.set(scope, token);
    return true;
  }

  /** One request with redirects followed (GET and HEAD only), under the scheme rule. */
  private async exchange(req: HttpRequest, signal: AbortSignal): Promise<HttpAnswer> {
    let current = req;
    for (let hop = 0; ; hop++) {
      if (!this.allowed(current.url)) {
        throw new RegistryError('REGISTRY_INSECURE', `${req.url.host}: a request to ${current.url.protocol}//${current.url.host} would go over plain HTTP to a host that is not loopback: refused.`, { fix: 'Use the https address of the registry (or --plain-http for a registry on a network you trust).' });
      }
      const answer = await this.options.transport.send(current, signal);
      if (![301, 302, 303, 307, 308].includes(answer.status) || (req.method !== 'GET' && req.method !== 'HEAD')) return answer;
      discard(answer.body);
      if (hop >= MAX_REDIRECTS) throw new RegistryError('REGISTRY_INSECURE', `${req.url.host} redirected more than ${MAX_REDIRECTS} times (from ${req.url.pathname.slice(0, 200)}): a loop is refused.`);
      const location = answer.headers.location;
      let next: URL;
      try {
        next = new URL(String(location ?? ''), current.url);
      } catch {
        throw new RegistryError('REGISTRY_ERROR', `${req.url.host} redirected to something that is not a URL`);
      }
      if (current.url.protocol === 'https:' && next.protocol !== 'https:') {
        throw new RegistryError('REGISTRY_INSECURE', `${req.url.host} redirected from https to ${next.protocol}//${next.host}: a downgrade is refused.`);
      }
      const headers = { ...current.headers };
      // Credentials go to the registry only, never to where it redirects (blob storage).
      if (next.origin !== current.url.origin) delete headers.authorization;
      current = { ...current, url: next, headers };
    }
  }

  /** A request to the repository's API, authenticated as its challenge asks. */
  private async call(method: HttpRequest['method'], target: string | URL, scope: Scope, signal: AbortSignal, extra: Omit<HttpRequest, 'method' | 'url'> = {}): Promise<HttpAnswer> {
    const url = typeof target === 'string' ? this.url(target) : target;
    for (let attempt = 0; ; attempt++) {
      const auth = this.authHeader(scope);
      const answer = await this.exchange({ method, url, ...extra, headers: { ...extra.headers, ...(auth ? { authorization: auth } : {}) } }, signal);
      if (answer.status !== 401 || attempt > 0) {
        if (answer.status === 401 || answer.status === 403) {
          const why = await describeFailure(answer);
          throw new RegistryError('REGISTRY_AUTH_FAILED', `${this.ref.registry} refused ${method} ${url.pathname.slice(0, 200)} (${why}).`, { fix: `Log in with \`docker login ${this.ref.registry}\` (credentials for ${scope === 'pull' ? 'pulling' : 'pushing to'} ${this.ref.repository}).` });
        }
        return answer;
      }
      discard(answer.body);
      // Credentials are the registry's: a 401 from where it redirected (blob storage) gets none.
      if (answer.url.origin !== this.origin.origin) {
        throw new RegistryError('REGISTRY_AUTH_FAILED', `${answer.url.host}, where ${this.ref.registry} redirected ${method} ${url.pathname.slice(0, 200)}, asks for credentials; the registry's are not sent elsewhere.`);
      }
      const challenge = parseChallenge(answer.headers['www-authenticate'] as string | undefined);
      this.tokens.delete(scope);
      if (!(await this.authenticate(challenge, scope, signal))) {
        throw new RegistryError('REGISTRY_AUTH_FAILED', `${this.ref.registry} asks for authentication (${challenge ? challenge.scheme : 'no usable challenge'}) and ${this.basic ? 'the credentials found were refused' : 'no credentials were found for it'}.`, { fix: `Log in with \`docker login ${this.ref.registry}\`.` });
      }
    }
  }

  private async failed(answer: HttpAnswer, what: string): Promise<RegistryError> {
    const why = await describeFailure(answer);
    const transient = answer.status >= 500 || answer.status === 429;
    return new RegistryError('REGISTRY_ERROR', `${this.ref.registry}/${this.ref.repository}: ${what} failed (${why}).`, { transient });
  }

  /** A manifest or index by tag or digest; by digest, its bytes are checked against it. */
  async getDocument(reference: string, signal: AbortSignal): Promise<FetchedDocument> {
    const answer = await this.call('GET', `manifests/${reference}`, 'pull', signal, { headers: { accept: ACCEPT } });
    if (answer.status !== 200) throw await this.failed(answer, `fetching manifest ${reference}`);
    const declared = Number(answer.headers['content-length'] ?? 0);
    if (declared > this.options.maxDocumentBytes) {
      answer.body.destroy();
      throw new RegistryError('SET_INVALID', `${this.ref.repository}@${reference}: the manifest is ${declared} bytes, more than ${this.options.maxDocumentBytes}; not read.`);
    }
    let bytes: Buffer;
    try {
      bytes = await readBounded(answer.body, this.options.maxDocumentBytes, `manifest ${reference}`);
    } catch (err) {
      if (err instanceof RegistryError && err.code === 'REGISTRY_ERROR') throw new RegistryError('SET_INVALID', `${this.ref.repository}@${reference}: the manifest is larger than ${this.options.maxDocumentBytes} bytes; not read.`);
      throw err;
    }
    const digest = digestOf(bytes);
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw new RegistryError('DIGEST_MISMATCH', `${this.ref.registry}/${this.ref.repository}@${reference}: the registry sent a manifest whose bytes are ${digest}.`, { fix: 'Nothing was kept. A registry or proxy serving other bytes under a digest is broken or compromised.' });
    }
    const header = answer.headers['docker-content-digest'];
    if (!reference.startsWith('sha256:') && typeof header === 'string' && header !== digest) {
      throw new RegistryError('DIGEST_MISMATCH', `${this.ref.registry}/${this.ref.repository}:${reference}: the registry says ${printable(header.slice(0, 80))} but sent bytes of ${digest}.`);
    }
    const mediaType = String(answer.headers['content-type'] ?? '').split(';')[0]!.trim();
    return { bytes, digest, mediaType };
  }

  /** Whether a manifest exists under a reference (HEAD), and its digest when it does. */
  async documentDigest(reference: string, signal: AbortSignal): Promise<string | null> {
    const answer = await this.call('HEAD', `manifests/${reference}`, 'pull', signal, { headers: { accept: ACCEPT } });
    discard(answer.body);
    if (answer.status === 404) return null;
    if (answer.status !== 200) throw await this.failed(answer, `checking manifest ${reference}`);
    const header = answer.headers['docker-content-digest'];
    return typeof header === 'string' ? header : null;
  }

  async hasBlob(digest: string, scope: Scope, signal: AbortSignal): Promise<boolean> {
    const answer = await this.call('HEAD', `blobs/${digest}`, scope, signal);
    discard(answer.body);
    if (answer.status === 200) return true;
    if (answer.status === 404) return false;
    throw await this.failed(answer, `checking blob ${digest}`);
  }

  /** A blob's raw bytes: the caller checks them against the digest as they stream. */
  async openBlob(digest: string, signal: AbortSignal): Promise<Readable> {
    const answer = await this.call('GET', `blobs/${digest}`, 'pull', signal);
    if (answer.status !== 200) throw await this.failed(answer, `fetching blob ${digest}`);
    return answer.body;
  }

  /** Upload one blob in a single PUT (POST for a session, then PUT …?digest=). */
  async uploadBlob(digest: string, body: HttpRequest['body'], signal: AbortSignal): Promise<void> {
    const start = await this.call('POST', 'blobs/uploads/', 'pull,push', signal, { body: Buffer.alloc(0) });
    discard(start.body);
    if (start.status !== 202 || typeof start.headers.location !== 'string') throw await this.failed(start, 'starting an upload');
    const location = new URL(start.headers.location, start.url);
    location.searchParams.set('digest', digest);
    const put = await this.call('PUT', location, 'pull,push', signal, { body: body!, headers: { 'content-type': 'application/octet-stream' } });
    if (put.status !== 201) throw await this.failed(put, `uploading blob ${digest}`);
    discard(put.body);
  }

  async putDocument(reference: string, mediaType: string, bytes: Buffer, signal: AbortSignal): Promise<string> {
    const answer = await this.call('PUT', `manifests/${reference}`, 'pull,push', signal, { body: bytes, headers: { 'content-type': mediaType } });
    if (answer.status !== 201) throw await this.failed(answer, `putting manifest ${reference}`);
    discard(answer.body);
    const digest = digestOf(bytes);
    const header = answer.headers['docker-content-digest'];
    if (typeof header === 'string' && header !== digest) {
      throw new RegistryError('DIGEST_MISMATCH', `${this.ref.registry} stored manifest ${reference} as ${printable(header.slice(0, 80))}, not as its bytes' digest ${digest}.`);
    }
    return digest;
  }
}
