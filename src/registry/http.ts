import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Readable } from 'node:stream';
import { BuilderError } from '../errors.js';
import { RegistryError } from './registry-error.js';

/** One HTTP exchange with a registry; the body is left unread for the caller to bound. */
export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
  url: URL;
}

export interface HttpRequest {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH';
  url: URL;
  headers?: Record<string, string>;
  /** A body: bytes, or a stream of exactly `length` bytes. */
  body?: Buffer | { stream: () => Readable; length: number };
}

export interface Transport {
  send(req: HttpRequest, signal: AbortSignal): Promise<HttpAnswer>;
}

export interface TransportOptions {
  /** A socket silent this long fails the exchange (REGISTRY_TIMEOUT). */
  idleTimeoutMs: number;
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ECONNABORTED']);

/** What a failed exchange becomes: unreachable, timed out, or cancelled by the caller's signal. */
export function transportError(err: unknown, url: URL, signal: AbortSignal): Error {
  if (err instanceof BuilderError) return err;
  if (signal.aborted) {
    const reason = signal.reason as Error | undefined;
    if (reason instanceof BuilderError) return reason;
    return new RegistryError('REGISTRY_TIMEOUT', `${url.host}: the transfer did not finish within its time limit (${reason?.message ?? String(reason)}); nothing of it was kept`, { fix: 'Check the registry and the network, or allow more time (--timeout, --pull-timeout, --reload-timeout).' });
  }
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const what = `${url.protocol}//${url.host}`;
  if (code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT') return new RegistryError('REGISTRY_TIMEOUT', `${what} sent nothing for too long`, { cause: err });
  if (UNREACHABLE.has(code) || code.startsWith('ERR_TLS') || code.includes('CERT') || /certificate|SSL|TLS/i.test((err as Error).message ?? '')) {
    return new RegistryError('REGISTRY_UNREACHABLE', `${what} cannot be reached: ${code || (err as Error).message}`, { cause: err, fix: 'Check the registry address and that it runs (and its certificate, over https).' });
  }
  if (['ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM', 'EIO'].includes(code)) {
    return new BuilderError('WRITE_FAILED', `The plugin store could not be written (${code}); nothing partial was kept.`, { fix: 'Free space or fix permissions on the store directory (--store), then pull again.', cause: err });
  }
  // A body cut off by the peer surfaces as a bare "aborted"; anything else is not the network's.
  if ((err as Error)?.message === 'aborted') return new RegistryError('REGISTRY_UNREACHABLE', `${what} closed the connection mid-transfer`, { cause: err });
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * node:http(s) with a socket idle limit and the caller's signal; no redirect is followed here
 * (the client decides, so a redirect cannot downgrade to plain HTTP or loop).
 */
export function nodeTransport(options: TransportOptions): Transport {
  return {
    send(req, signal) {
      return new Promise<HttpAnswer>((resolve, reject) => {
        if (signal.aborted) return reject(transportError(null, req.url, signal));
        const send = req.url.protocol === 'https:' ? httpsRequest : httpRequest;
        const headers: Record<string, string> = { 'user-agent': 'plugin-builder', ...req.headers };
        if (req.body) headers['content-length'] = String(Buffer.isBuffer(req.body) ? req.body.length : req.body.length);
        const clientRequest = send(req.url, { method: req.method, headers, signal, timeout: options.idleTimeoutMs }, (res) => {
          res.setTimeout(options.idleTimeoutMs, () => res.destroy(new RegistryError('REGISTRY_TIMEOUT', `${req.url.host} stopped sending for ${options.idleTimeoutMs} ms`)));
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: res, url: req.url });
        });
        clientRequest.on('timeout', () => clientRequest.destroy(new RegistryError('REGISTRY_TIMEOUT', `${req.url.host} did not answer within ${options.idleTimeoutMs} ms`)));
        clientRequest.on('error', (err) => reject(transportError(err, req.url, signal)));
        if (!req.body) return void clientRequest.end();
        if (Buffer.isBuffer(req.body)) return void clientRequest.end(req.body);
        const stream = req.body.stream();
        stream.on('error', (err) => clientRequest.destroy(err));
        stream.pipe(clientRequest);
      });
    },
  };
}

/** Read a whole answer of at most `max` bytes; a longer one is cut off and refused. */
export async function readBounded(body: Readable, max: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body) {
    total += (chunk as Buffer).length;
    if (total > max) {
      body.destroy();
      throw new RegistryError('REGISTRY_ERROR', `${what}: the answer is larger than ${max} bytes; the rest was not read`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Drop an answer's body unread (at most a little of it is drained so the connection can be reused). */
export function discard(body: Readable): void {
  body.resume();
  const timer = setTimeout(() => body.destroy(), 1000);
  body.once('end', () => clearTimeout(timer)).once('error', () => clearTimeout(timer)).once('close', () => clearTimeout(timer));
  let seen = 0;
  body.on('data', (c: Buffer) => {
    seen += c.length;
    if (seen > 64 * 1024) body.destroy();
  });
}
