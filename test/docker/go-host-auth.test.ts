import { connect } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GO_HOST_BOOKWORM, requireDocker, skipDocker } from '../helpers/docker.js';
import { startHostContainer } from '../helpers/host-container.js';
import { cli, copyProject } from '../helpers/project.js';

/**
 * The Go example host is production code people copy: the red team found it serving /plugins
 * with an empty token file, /metrics (which runs every plugin) with no token at all, and no
 * server timeouts. Each attack against the real example binary in its image.
 */
const TOKEN = 'an-example-token-0123456789';

describe.skipIf(skipDocker)('the Go example host: auth on every route but /healthz, token rules, timeouts (real gohost)', () => {
  let project: string;
  let out: string;
  let empty: string;

  beforeAll(async () => {
    await requireDocker();
    project = await copyProject('examples/go-host');
    const build = await cli(project, ['build']);
    expect(build.code, build.stderr).toBe(0);
    out = join(project, 'dist/plugins');
    empty = await mkdtemp(join(tmpdir(), 'pb-gohost-empty-'));
  }, 600_000);

  afterAll(async () => {
    for (const dir of [project, empty]) if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.each([
    ['an empty token file', ''],
    ['a lone newline', '\n'],
    ['a short token', 'short-token\n'],
    ['a token with a space', 'a token with spaces in it\n'],
  ])('%s: the host refuses to start (BAD_TOKEN), never serves without auth', async (_what, content) => {
    const host = await startHostContainer(GO_HOST_BOOKWORM, out, {
      command: (port) => ['-listen', `127.0.0.1:${port}`, '-token-file', '/app/trust/token'],
      trust: { token: content },
      waitHealthy: false,
    });
    try {
      const exit = await host.container.wait();
      expect(exit.StatusCode).toBe(2);
      const logs = await host.logs();
      expect(logs).toMatch(/the bearer token must be at least 16 characters of printable ASCII \(no spaces\)/);
    } finally {
      await host.stop();
    }
  }, 120_000);

  it('off loopback without a token: refused; with -insecure-no-auth it starts, knowingly', async () => {
    const refused = await startHostContainer(GO_HOST_BOOKWORM, out, { command: (port) => ['-listen', `0.0.0.0:${port}`], waitHealthy: false });
    try {
      expect((await refused.container.wait()).StatusCode).toBe(2);
      expect(await refused.logs()).toContain('(not loopback) needs a bearer token');
    } finally {
      await refused.stop();
    }
  }, 120_000);

  it('with a token: /plugins, /plugins/reload and /metrics need it; /healthz does not; a slow-header client is cut off', async () => {
    const host = await startHostContainer(GO_HOST_BOOKWORM, out, {
      command: (port) => ['-listen', `127.0.0.1:${port}`, '-token-file', '/app/trust/token'],
      trust: { token: `${TOKEN}\n` },
    });
    try {
      const auth = { authorization: `Bearer ${TOKEN}` };
      expect((await host.get('/healthz')).status).toBe(200);
      for (const path of ['/plugins', '/metrics', '/metrics?arg=x']) {
        expect((await host.get(path)).status, path).toBe(401);
        expect((await host.get(path, { authorization: 'Bearer wrong-token-wrong-token' })).status, path).toBe(401);
      }
      expect((await host.put('/plugins/reload')).status).toBe(401);
      expect((await host.get('/plugins', auth)).status).toBe(200);
      const metrics = await fetch(`${host.url}/metrics`, { headers: auth });
      expect(metrics.status).toBe(200);
      expect(Object.keys((await metrics.json()) as object).length).toBeGreaterThan(0);

      // Headers sent a few bytes at a time, never finished: the server closes the connection.
      const started = Date.now();
      const closedAfter = await new Promise<number>((resolve, reject) => {
        const socket = connect(host.port, '127.0.0.1', () => socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n'));
        const drip = setInterval(() => socket.write('X-Slow: 1\r\n'), 1000);
        socket.on('error', () => undefined);
        socket.on('close', () => {
          clearInterval(drip);
          resolve(Date.now() - started);
        });
        setTimeout(() => {
          clearInterval(drip);
          socket.destroy();
          reject(new Error('a slow-header connection was still open after 30 s'));
        }, 30_000);
      });
      expect(closedAfter).toBeLessThan(15_000);
      expect((await host.get('/healthz')).status).toBe(200);
    } finally {
      await host.stop();
    }
  }, 180_000);
});
