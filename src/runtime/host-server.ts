import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { BadCallError, BuilderError, describeCause } from '../errors.js';
import type { PluginHost } from './plugin-host.js';

const MAX_BODY_BYTES = 1024 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `request body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `request body is not JSON: ${(err as Error).message}`);
  }
}

/**
 * The plugin host service: list, reload, call. Every failure is an HTTP answer with a JSON
 * `error`; nothing a client sends can take the process down.
 */
export function createHostServer(host: PluginHost): Server {
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://host');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';

    if (path === '/healthz' && method === 'GET') return send(res, 200, { status: 'ok' });
    if (path === '/plugins' && method === 'GET') return send(res, 200, { plugins: host.plugins() });
    if (path === '/plugins/reload') {
      if (method !== 'PUT' && method !== 'POST') throw new HttpError(405, 'use PUT or POST');
      return send(res, 200, { plugins: await host.reload() });
    }
    const call = /^\/plugins\/([^/]+)\/call\/([^/]+)$/.exec(path);
    if (call) {
      if (method !== 'POST') throw new HttpError(405, 'use POST');
      const body = await readJson(req);
      const args = (body as { args?: unknown }).args ?? [];
      if (!Array.isArray(args)) throw new HttpError(400, '"args" must be an array');
      const result = host.call(decodeURIComponent(call[1] as string), decodeURIComponent(call[2] as string), args);
      return send(res, 200, { result: result === undefined ? null : result });
    }
    throw new HttpError(404, `no route ${method} ${path}`);
  };

  return createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) return res.destroy();
      if (err instanceof HttpError) return send(res, err.status, { error: err.message });
      if (err instanceof BadCallError) return send(res, err.status, { error: err.message, code: err.code });
      if (err instanceof BuilderError) return send(res, 409, { error: err.message, code: err.code });
      send(res, 500, { error: describeCause(err) });
    });
  });
}
