import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from 'node:net';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileSealer } from '../../../src/runtime/file-sealer.js';
import { createHostServer } from '../../../src/runtime/host-server.js';
import { isLoopback, listen, shutdownGracefully } from '../../../src/runtime/host-service.js';
import { PluginHost } from '../../../src/runtime/plugin-host.js';
import { ENV, deploy, fakeLoader, tempDir } from '../../helpers/fake-plugins.js';
import { hostileRequest, sendRaw } from '../../helpers/raw-http.js';

const TOKEN = 'test-token-0123456789abcdef';

async function serve(options: { token?: string; requestTimeoutMs?: number } = {}) {
  const dir = await deploy({ 'libgreet.so': 'GREET:1.0.0:0', 'libconstructor.so': 'GREET:1.0.0:0:constructor' });
  const host = await PluginHost.open({ pluginDir: dir, loader: fakeLoader(), sealer: new FileSealer(await tempDir()), liveEnvironment: ENV });
  const bugs: string[] = [];
  const server = createHostServer(host, { ...options, log: (_, m) => bugs.push(m) });
  const port = await listen(server, 0, '127.0.0.1');
  const base = `http://127.0.0.1:${port}`;
  const req = async (method: string, path: string, body?: string, headers: Record<string, string> = {}) => {
    const res = await fetch(base + path, { method, headers, ...(body === undefined ? {} : { body }) });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : null) as Record<string, any> };
  };
  return { dir, host, server, port, req, bugs };
}

describe('host service', () => {
  let s: Awaited<ReturnType<typeof serve>>;
  beforeAll(async () => {
    s = await serve({ requestTimeoutMs: 1500 });
  });
  afterAll(async () => {
    await shutdownGracefully(s.server, 100);
    await s.host.close();
  });

  it('serves health, list, call and reload; trust and lockfile state are reported', async () => {
    expect(await s.req('GET', '/healthz')).toEqual({ status: 200, body: { status: 'ok', trust: 'unsigned', lockfile: 'accepted', plugins: { loaded: 2, rejected: 0 } } });
    const list = await s.req('GET', '/plugins');
    expect(list.body).toMatchObject({ trust: 'unsigned', lockfile: { status: 'accepted' } });
    expect(list.body.plugins.map((p: { name: string; onDisk: string }) => [p.name, p.onDisk])).toEqual([['constructor', 'matches'], ['greet', 'matches']]);
    expect(await s.req('POST', '/plugins/greet/call/Add', '{"args":[2,40]}')).toEqual({ status: 200, body: { result: 42 } });
    expect(await s.req('POST', '/plugins/constructor/call/Add', '{"args":[2,40]}')).toEqual({ status: 200, body: { result: 42 } });
    expect(await s.req('POST', '/plugins/greet/call/Big', '{"args":["9223372036854775807"]}')).toEqual({ status: 200, body: { result: '9223372036854775807' } });
    expect((await s.req('PUT', '/plugins/reload')).status).toBe(200);
    expect((await s.req('HEAD', '/healthz')).status).toBe(200);
  });

  it('every client mistake is a 4xx with a JSON body', async () => {
    const cases: [string, string, string | undefined, number][] = [
      ['POST', '/plugins/greet/call/Add', 'null', 400],
      ['POST', '/plugins/greet/call/Add', '[1,2]', 400],
      ['POST', '/plugins/greet/call/Add', '{"args":3}', 400],
      ['POST', '/plugins/greet/call/Add', 'not json', 400],
      ['POST', '/plugins/greet/call/Add', '{"args":[2]}', 400],
      ['POST', '/plugins/greet/call/Add', '{"args":[1e400, 1]}', 400],
      ['POST', '/plugins/%E0%A4%A/call/Add', '{}', 400],
      ['POST', '/plugins/greet/call/%zz', '{}', 400],
      ['POST', '/plugins/nope/call/Add', '{"args":[]}', 404],
      ['POST', '/plugins/toString/call/Add', '{"args":[1,2]}', 404],
      ['POST', '/plugins/__proto__/call/Add', '{"args":[1,2]}', 404],
      ['POST', '/plugins/greet/call/constructor', '{"args":[]}', 404],
      ['POST', '/plugins/greet/call/Nope', '{"args":[]}', 404],
      ['GET', '/plugins/greet/call/Add', undefined, 405],
      ['DELETE', '/plugins/reload', undefined, 405],
      ['POST', '/healthz', '', 405],
      ['GET', '/nowhere', undefined, 404],
    ];
    for (const [method, path, body, expected] of cases) {
      const answer = await s.req(method, path, body);
      expect([method, path, body, answer.status]).toEqual([method, path, body, expected]);
      expect(typeof answer.body.error).toBe('string');
    }
    const big = await s.req('POST', '/plugins/greet/call/Add', `{"args":[1,2],"pad":"${'x'.repeat(1024 * 1024)}"}`);
    expect(big.status).toBe(413);
    // Raw protocol abuse: absolute-form targets, garbage, oversized headers.
    expect((await sendRaw(s.port, Buffer.from('GET http://evil/plugins HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'))).statuses).toEqual([400]);
    expect((await sendRaw(s.port, Buffer.from('\x00\x01\x02 garbage\r\n\r\n'), 4000, '127.0.0.1', true)).statuses).toEqual([400]);
    expect((await sendRaw(s.port, Buffer.from(`GET /healthz HTTP/1.1\r\nX: ${'a'.repeat(100_000)}\r\n\r\n`))).statuses).toEqual([431]);
    expect(s.bugs.filter((b) => b.startsWith('BUG'))).toEqual([]);
  });

  it('a run of slashes costs nothing (no quadratic regex) and long targets are refused with 414', async () => {
    const started = performance.now();
    const answers = await Promise.all(Array.from({ length: 20 }, () => sendRaw(s.port, Buffer.from(`GET /plugins${'/'.repeat(1500)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`))));
    expect(answers.map((a) => a.statuses[0])).toEqual(Array(20).fill(200));
    expect((await sendRaw(s.port, Buffer.from(`GET /${'/'.repeat(16000)} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`))).statuses).toEqual([414]);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it('a client that hangs up mid-body is not logged as a bug', async () => {
    const socket = connect({ host: '127.0.0.1', port: s.port });
    await new Promise((r) => socket.once('connect', r));
    socket.write('POST /plugins/greet/call/Add HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"args":');
    await new Promise((r) => setTimeout(r, 100));
    socket.destroy();
    await new Promise((r) => setTimeout(r, 200));
    expect(s.bugs.filter((b) => b.startsWith('BUG'))).toEqual([]);
  });

  it('a deeply nested lockfile makes reload answer 409, never 500', async () => {
    const fresh = await serve();
    const replace = '{"path":"x","version":"v1","replace":'.repeat(20_000) + '{"path":"x","version":"v1"}' + '}'.repeat(20_000);
    const lock = JSON.parse(await readFile(join(fresh.dir, 'builder.lock.json'), 'utf8')) as { plugins: Record<string, Record<string, unknown>> };
    lock.plugins.greet!.deps = ['DEPS'];
    await writeFile(join(fresh.dir, 'builder.lock.json'), JSON.stringify(lock).replace('"DEPS"', `{"path":"m","version":"v1","replace":${replace}}`));
    const answer = await fresh.req('POST', '/plugins/reload');
    expect(answer.status).toBe(409);
    expect(answer.body.code).toBe('LOCKFILE_INVALID');
    await shutdownGracefully(fresh.server, 100);
    await fresh.host.close();
  });

  it('a missing lockfile makes reload answer 409 with a code; what served keeps answering', async () => {
    const fresh = await serve();
    await rm(join(fresh.dir, 'builder.lock.json'));
    const answer = await fresh.req('POST', '/plugins/reload');
    expect(answer.status).toBe(409);
    expect(answer.body).toMatchObject({ code: 'LOCKFILE_MISSING', lockfile: { status: 'refused' } });
    expect(await fresh.req('POST', '/plugins/greet/call/Add', '{"args":[1,1]}')).toEqual({ status: 200, body: { result: 2 } });
    expect((await fresh.req('GET', '/healthz')).body.lockfile).toBe('refused');
    await shutdownGracefully(fresh.server, 100);
    await fresh.host.close();
  });

  it('fuzz: hostile requests never get a 5xx and never take the service down', async () => {
    let requests = 0;
    let answered = 0;
    await fc.assert(
      fc.asyncProperty(hostileRequest, async ({ bytes, framed }) => {
        requests++;
        const answer = await sendRaw(s.port, bytes, 3000, '127.0.0.1', !framed);
        if (answer.statuses.length > 0) answered++;
        for (const status of answer.statuses) expect(status, bytes.toString('latin1').slice(0, 300)).toBeLessThan(500);
      }),
      { numRuns: 3000 },
    );
    expect(requests).toBe(3000);
    expect(answered).toBeGreaterThan(2700); // the server answered, it did not just hang up
    expect((await s.req('GET', '/healthz')).status).toBe(200);
    expect(await s.req('POST', '/plugins/greet/call/Add', '{"args":[20,22]}')).toEqual({ status: 200, body: { result: 42 } });
    expect(s.bugs.filter((b) => b.startsWith('BUG'))).toEqual([]);
  }, 120_000);
});

describe('host service with a token', () => {
  it('requires the bearer token everywhere but /healthz, compared in constant time', async () => {
    const s = await serve({ token: TOKEN });
    try {
      expect((await s.req('GET', '/healthz')).status).toBe(200);
      expect((await s.req('GET', '/plugins')).status).toBe(401);
      expect((await s.req('POST', '/plugins/reload')).status).toBe(401);
      const noToken = await s.req('POST', '/plugins/greet/call/Add', '{"args":[1,2]}');
      expect(noToken).toMatchObject({ status: 401, body: { error: expect.stringContaining('Bearer') } });
      expect((await s.req('POST', '/plugins/greet/call/Add', '{"args":[1,2]}', { authorization: `Bearer ${TOKEN}x` })).status).toBe(401);
      expect((await s.req('POST', '/plugins/greet/call/Add', '{"args":[1,2]}', { authorization: `Bearer ${TOKEN.slice(0, -1)}` })).status).toBe(401);
      expect((await s.req('POST', '/plugins/greet/call/Add', '{"args":[1,2]}', { authorization: `Basic ${TOKEN}` })).status).toBe(401);
      expect(await s.req('POST', '/plugins/greet/call/Add', '{"args":[1,2]}', { authorization: `Bearer ${TOKEN}` })).toEqual({ status: 200, body: { result: 3 } });
      expect((await s.req('GET', '/plugins', undefined, { authorization: `bearer ${TOKEN}` })).status).toBe(200);
    } finally {
      await shutdownGracefully(s.server, 100);
      await s.host.close();
    }
  });
});

describe('graceful shutdown', () => {
  it('a stalled client does not hold shutdown past the grace period', async () => {
    const s = await serve({ requestTimeoutMs: 60_000 });
    const socket = connect({ host: '127.0.0.1', port: s.port });
    await new Promise((r) => socket.once('connect', r));
    // Headers and half a body, then nothing: an in-flight request that will never finish.
    socket.write('POST /plugins/greet/call/Add HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"args":');
    await new Promise((r) => setTimeout(r, 200));
    const started = performance.now();
    await shutdownGracefully(s.server, 500);
    const ms = performance.now() - started;
    socket.destroy();
    await s.host.close();
    expect(ms).toBeGreaterThanOrEqual(400);
    expect(ms).toBeLessThan(2000);
  });

  it('loopback detection', () => {
    expect(['127.0.0.1', '127.1.2.3', '::1', 'localhost', '::ffff:127.0.0.1'].every(isLoopback)).toBe(true);
    expect(['0.0.0.0', '::', '10.0.0.1', '192.168.1.1', 'example.com', '0:0:0:0:0:0:0:1x'].some(isLoopback)).toBe(false);
  });
});
