import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { digestOf } from '../../src/oci/descriptor.js';

export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => boolean | void | Promise<boolean | void>;

/**
 * A registry the test controls, on loopback: documents and blobs by digest (and tags), with
 * hooks that answer a request first (to misbehave). Records every request it sees.
 */
export class FakeRegistry {
  readonly documents = new Map<string, { bytes: Buffer; mediaType: string }>();
  readonly blobs = new Map<string, Buffer>();
  readonly tags = new Map<string, string>();
  readonly requests: Array<{ method: string; path: string; authorization?: string }> = [];
  hooks: Handler[] = [];
  private server: Server | null = null;
  port = 0;

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  addDocument(bytes: Buffer, mediaType: string, tag?: string): string {
    const digest = digestOf(bytes);
    this.documents.set(digest, { bytes, mediaType });
    if (tag) this.tags.set(tag, digest);
    return digest;
  }

  addBlob(bytes: Buffer): string {
    const digest = digestOf(bytes);
    this.blobs.set(digest, bytes);
    return digest;
  }

  blobFetches(digest: string): number {
    return this.requests.filter((r) => r.method === 'GET' && r.path.endsWith(`/blobs/${digest}`)).length;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.port = (this.server!.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', `http://${this.host}`);
    this.requests.push({ method: req.method ?? '', path: url.pathname, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
    for (const hook of this.hooks) if (await hook(req, res, url)) return;
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
    if (url.pathname === '/v2/' ) return void res.writeHead(200).end('{}');
    if (/\/blobs\/uploads\/$/.test(url.pathname) && req.method === 'POST') {
      return void res.writeHead(202, { location: `${url.pathname}session-1` }).end();
    }
    if (/\/blobs\/uploads\/session-1$/.test(url.pathname) && req.method === 'PUT') {
      const digest = url.searchParams.get('digest')!;
      if (digestOf(body) !== digest) return void res.writeHead(400).end('{"errors":[{"code":"DIGEST_INVALID","message":"digest did not match"}]}');
      this.blobs.set(digest, body);
      return void res.writeHead(201, { 'docker-content-digest': digest }).end();
    }
    if (!m) return void res.writeHead(404).end();
    const [, , kind, ref] = m as unknown as [string, string, string, string];
    if (kind === 'manifests') {
      if (req.method === 'PUT') {
        const digest = digestOf(body);
        this.documents.set(digest, { bytes: body, mediaType: String(req.headers['content-type']) });
        if (!ref.startsWith('sha256:')) this.tags.set(ref, digest);
        return void res.writeHead(201, { 'docker-content-digest': digest }).end();
      }
      const digest = ref.startsWith('sha256:') ? ref : this.tags.get(ref);
      const doc = digest ? this.documents.get(digest) : undefined;
      if (!doc) return void res.writeHead(404).end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
      res.writeHead(200, { 'content-type': doc.mediaType, 'content-length': doc.bytes.length, 'docker-content-digest': digest! });
      return void res.end(req.method === 'HEAD' ? undefined : doc.bytes);
    }
    const blob = this.blobs.get(ref);
    if (!blob) return void res.writeHead(404).end('{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}');
    res.writeHead(200, { 'content-length': blob.length, 'docker-content-digest': ref });
    res.end(req.method === 'HEAD' ? undefined : blob);
  }
}
