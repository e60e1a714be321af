import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { PLUGIN_NAME } from '../config/schema.js';
import { BadCallError, BuilderError, describeCause } from '../errors.js';
import type { HostReport } from './host-types.js';
import type { PluginHost } from './plugin-host.js';

export const MAX_BODY_BYTES = 1024 * 1024;
/** Longer request targets are refused before any work: no route is anywhere near this long. */
const MAX_TARGET_CHARS = 2048;
const FUNCTION_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

export interface HostServerOptions {
  /** Bearer token required on every route but /healthz; none: no authentication. */
  token?: string;
  /** Whole-request limit (headers and body), ms. */
  requestTimeoutMs?: number;
  log?: (level: 'info' | 'warn', message: string) => void;
  /**
   * `PUT /plugins/reload {"ref": "repo@sha256:…"}`: pull that set and reload from it (a host
   * started with --from). None: a reload names no reference.
   */
  reloadByRef?: (ref: string) => Promise<HostReport>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  res.end(text);
}

async function readJsonObject(req: IncomingMessage): Promise<Record<string, unknown>> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > MAX_BODY_BYTES) throw new HttpError(413, `request body larger than ${MAX_BODY_BYTES} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `request body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `request body is not JSON: ${(err as Error).message}`);
  }
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new HttpError(400, 'request body must be a JSON object like {"args":[…]}');
  return body as Record<string, unknown>;
}

/** `/plugins///` → `/plugins`. A loop, not /\/+$/: that regex is quadratic on a run of slashes. */
function withoutTrailingSlashes(path: string): string {
  let end = path.length;
  while (end > 1 && path.charCodeAt(end - 1) === 0x2f) end--;
  return path.slice(0, end);
}

function decodeSegment(segment: string, what: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, `the ${what} in the path is not valid percent-encoding`);
  }
}

/** Hashing both sides first makes the comparison constant-time whatever the lengths. */
function tokenMatches(presented: string, expected: Buffer): boolean {
  return timingSafeEqual(createHash('sha256').update(presented).digest(), expected);
}

function bearer(req: IncomingMessage): string | null {
  const header = req.headers.authorization;
  if (typeof header !== 'string') return null;
  const match = /^Bearer +([^\s]+) *$/i.exec(header);
  return match ? (match[1] as string) : null;
}

/**
 * The plugin host service: health, list, reload, call. Every client mistake is a 4xx with a
 * JSON body; a 5xx means a bug in this code (and is logged). Nothing a client sends can
 * reach native code except arguments already checked against the manifest's allowed types.
 */
export function createHostServer(host: PluginHost, options: HostServerOptions = {}): Server {
  const log = options.log ?? (() => {});
  const expected = options.token === undefined ? null : createHash('sha256').update(options.token).digest();

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const raw = req.url ?? '';
    if (raw.length > MAX_TARGET_CHARS) throw new HttpError(414, `the request target is longer than ${MAX_TARGET_CHARS} characters`);
    // Only origin-form paths: absolute-form or authority-form targets are not ours to route.
    if (!raw.startsWith('/')) throw new HttpError(400, 'the request target must be a path');
    const path = withoutTrailingSlashes(raw.split('?', 1)[0] as string);
    const method = req.method ?? 'GET';
    const reading = method === 'GET' || method === 'HEAD';

    if (path === '/healthz') {
      if (!reading) throw new HttpError(405, 'use GET', { allow: 'GET, HEAD' });
      const report = host.report();
      return send(res, 200, {
        status: 'ok',
        trust: report.trust,
        lockfile: report.lockfile.status,
        plugins: { loaded: report.plugins.filter((p) => p.status === 'loaded').length, rejected: report.plugins.filter((p) => p.status === 'rejected').length },
      });
    }
    if (expected) {
      const token = bearer(req);
      if (token === null || !tokenMatches(token, expected)) {
        throw new HttpError(401, token === null ? 'this route needs "Authorization: Bearer <token>"' : 'the bearer token is not valid', { 'www-authenticate': 'Bearer' });
      }
    }
    if (path === '/plugins') {
      if (!reading) throw new HttpError(405, 'use GET', { allow: 'GET, HEAD' });
      return send(res, 200, await host.inspect());
    }
    if (path === '/plugins/reload') {
      if (method !== 'PUT' && method !== 'POST') throw new HttpError(405, 'use PUT or POST', { allow: 'PUT, POST' });
      const body = await readJsonObject(req);
      let report: HostReport;
      if (Object.hasOwn(body, 'ref')) {
        if (typeof body.ref !== 'string' || body.ref.length > 4096) throw new HttpError(400, '"ref" must be a reference like "registry/repo@sha256:…"');
        if (!options.reloadByRef) throw new HttpError(400, 'this host was not started with --from: it loads from its plugin directory, not from a registry');
        report = await options.reloadByRef(body.ref);
      } else {
        report = await host.reload();
      }
      if (report.lockfile.status === 'refused') {
        return send(res, 409, { error: report.lockfile.reason, code: report.lockfile.code, fix: report.lockfile.fix, ...report });
      }
      return send(res, 200, report);
    }
    const call = /^\/plugins\/([^/]+)\/call\/([^/]+)$/.exec(path);
    if (call) {
      if (method !== 'POST') throw new HttpError(405, 'use POST', { allow: 'POST' });
      const name = decodeSegment(call[1] as string, 'plugin name');
      const fn = decodeSegment(call[2] as string, 'function name');
      if (!PLUGIN_NAME.test(name)) throw new HttpError(404, 'no such plugin: plugin names are 1-64 letters, digits, "-" or "_"');
      if (!FUNCTION_NAME.test(fn)) throw new HttpError(404, 'no such function: function names are C identifiers');
      const body = await readJsonObject(req);
      const args = Object.hasOwn(body, 'args') ? body.args : [];
      if (!Array.isArray(args)) throw new HttpError(400, '"args" must be an array');
      return send(res, 200, { result: await host.callWithin(name, fn, args) });
    }
    throw new HttpError(404, `no route ${method.slice(0, 16)} ${path.slice(0, 200)}`);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      // The client went away mid-request: nobody to answer, nothing wrong with the host.
      // (req.destroyed alone says nothing: a fully read request is destroyed too.)
      if (res.destroyed || res.socket?.destroyed !== false || (err as NodeJS.ErrnoException).code === 'ECONNRESET' || (err as Error).message === 'aborted') return void res.destroy();
      if (res.headersSent) return void res.destroy();
      if (err instanceof HttpError) return send(res, err.status, { error: err.message }, err.headers);
      if (err instanceof BadCallError) return send(res, err.status, { error: err.message, code: err.code });
      if (err instanceof BuilderError) return send(res, 409, { error: err.message, code: err.code, ...(err.fix ? { fix: err.fix } : {}) });
      log('warn', `BUG: request ${req.method} ${req.url?.slice(0, 200)} failed: ${err instanceof Error ? err.stack : describeCause(err)}`);
      send(res, 500, { error: 'internal error (a bug in the host; it is logged)' });
    });
  });
  server.requestTimeout = options.requestTimeoutMs ?? 30_000;
  server.headersTimeout = Math.min(server.requestTimeout, 10_000);
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // Malformed requests from the parser: a JSON 4xx when the socket can still take one.
    if (!socket.writable || err.code === 'ECONNRESET') return void socket.destroy();
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    const text = JSON.stringify({ error: status === 408 ? 'request timeout' : 'malformed HTTP request' }) + '\n';
    socket.end(`HTTP/1.1 ${status} ${status === 408 ? 'Request Timeout' : status === 431 ? 'Request Header Fields Too Large' : 'Bad Request'}\r\ncontent-type: application/json\r\ncontent-length: ${text.length}\r\nconnection: close\r\n\r\n${text}`);
  });
  return server;
}
