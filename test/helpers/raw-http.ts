import { connect } from 'node:net';
import fc from 'fast-check';

export interface RawAnswer {
  /** Status codes of every response on the connection, in order. */
  statuses: number[];
  text: string;
}

/**
 * Send raw bytes to host:port and collect what comes back until the server closes (or `ms`).
 * A framed request keeps the connection open for the answer (Node's server drops a response
 * whose client half-closed first); unframed bytes half-close, so the parser sees their end.
 */
export function sendRaw(port: number, bytes: Buffer, ms = 4000, host = '127.0.0.1', halfClose = false): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const chunks: Buffer[] = [];
    const finish = () => {
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      resolve({ statuses: [...text.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1])), text });
    };
    const timer = setTimeout(finish, ms);
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', finish);
    socket.on('close', finish);
    socket.on('connect', () => (halfClose ? socket.end(bytes) : socket.write(bytes)));
  });
}

const segment = fc.oneof(
  fc.constantFrom('plugins', 'reload', 'call', 'healthz', 'greet', 'shout', 'Add', 'Greet', 'Double', 'Shout', 'constructor', '__proto__', 'toString', '%', '%zz', '%00', '%2F', '..', '.', '', 'a%20b', '%E0%A4%A'),
  fc.stringMatching(/^[A-Za-z0-9_~!$&'()*+,;=:@.-]{0,24}$/),
);
const path = fc.oneof(
  { arbitrary: fc.constantFrom('/plugins/greet/call/Add', '/plugins/greet/call/Greet', '/plugins/greet/call/Big', '/plugins/shout/call/Shout', '/plugins/shout/call/Double', '/plugins/reload'), weight: 3 },
  { arbitrary: fc.array(segment, { maxLength: 6 }).map((s) => '/' + s.join('/')), weight: 2 },
  { arbitrary: fc.constantFrom('/plugins', '/healthz', '*', 'http://evil/plugins', '//x/plugins', '/plugins?x=1', '/plugins/greet/call/Add?'), weight: 1 },
);
const method = fc.oneof({ arbitrary: fc.constant('POST'), weight: 3 }, fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'TRACE', 'CONNECT'), fc.stringMatching(/^[A-Z]{1,10}$/));
const headerName = fc.oneof(fc.constantFrom('Authorization', 'Content-Type', 'Transfer-Encoding', 'Expect', 'X-Forwarded-For', 'Cookie', 'Accept'), fc.stringMatching(/^[A-Za-z0-9-]{1,20}$/));
const headerValue = fc.oneof(fc.constantFrom('Bearer x', 'Bearer ', 'application/json', 'chunked', '100-continue', 'gzip'), fc.stringMatching(/^[\x20-\x7e]{0,60}$/));
const body = fc.oneof(
  fc.constant(''),
  fc.constantFrom('null', '[]', '{}', '{"args":null}', '{"args":[1,2]}', '{"args":["",10000000]}', '{"args":["9223372036854775807"]}', '{"args":[1e400]}', '{"__proto__":{"args":[1]}}', '{"args":{"length":2}}'),
  fc.json(),
  fc.string({ maxLength: 200 }),
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('latin1')),
);

export interface HostileRequest {
  bytes: Buffer;
  /** A complete HTTP/1.1 request with `Connection: close` (else: raw garbage). */
  framed: boolean;
}

/** Arbitrary HTTP/1.1 requests: mostly well-framed, with hostile methods, paths, headers and bodies. */
export const hostileRequest: fc.Arbitrary<HostileRequest> = fc
  .record({ method, path, headers: fc.array(fc.tuple(headerName, headerValue), { maxLength: 5 }), body, lengthRight: fc.boolean(), garbage: fc.option(fc.uint8Array({ minLength: 1, maxLength: 64 }), { freq: 10 }) })
  .map(({ method: m, path: p, headers, body: b, lengthRight, garbage }) => {
    if (garbage) return { bytes: Buffer.from(garbage), framed: false };
    const payload = Buffer.from(b, 'latin1');
    const lines = [`${m} ${p} HTTP/1.1`, 'Host: 127.0.0.1', 'Connection: close'];
    // Mostly a right Content-Length; otherwise a shorter one (never longer: the server would
    // rightly wait for bytes that never come, until its request timeout).
    lines.push(`Content-Length: ${lengthRight ? payload.length : Math.floor(payload.length / 2)}`);
    for (const [name, value] of headers) if (!/^(content-length|transfer-encoding|host|connection)$/i.test(name)) lines.push(`${name}: ${value}`);
    return { bytes: Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), payload]), framed: true };
  });
