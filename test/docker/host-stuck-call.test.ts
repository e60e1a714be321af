import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOST_BOOKWORM, requireDocker, skipDocker } from '../helpers/docker.js';
import { startHostContainer } from '../helpers/host-container.js';
import { cli } from '../helpers/project.js';

/**
 * A plugin function that never returns (the red team's froze /healthz and made the host ignore
 * SIGTERM): the call runs on a worker thread, answers CALL_TIMEOUT at its limit, the plugin is
 * marked stuck, /healthz keeps answering and SIGTERM still ends the service within its grace.
 */
describe.skipIf(skipDocker)('a plugin call that never returns (real host, real koffi)', () => {
  let dir: string;

  beforeAll(async () => {
    await requireDocker();
    dir = await mkdtemp(join(tmpdir(), 'pb-stuck-'));
    await mkdir(join(dir, 'plugins', 'p'), { recursive: true });
    await writeFile(
      join(dir, 'plugins', 'p', 'p.c'),
      '#include <unistd.h>\n' +
        'const char *builder_plugin_manifest(void) { return "{\\"name\\":\\"p\\",\\"version\\":\\"1\\",\\"functions\\":{\\"Hang\\":\\"int Hang(void)\\",\\"Value\\":\\"int Value(void)\\"}}"; }\n' +
        'int Hang(void) { for (;;) pause(); return 0; }\nint Value(void) { return 7; }\n',
    );
    await writeFile(join(dir, 'builder.config.json'), JSON.stringify({ host: { image: HOST_BOOKWORM }, plugins: [{ name: 'p', kind: 'c', path: 'plugins/p' }], outDir: 'dist/plugins', lockfile: 'dist/plugins/builder.lock.json' }));
    const build = await cli(dir, ['build']);
    expect(build.code, build.stderr).toBe(0);
  }, 600_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('CALL_TIMEOUT at the limit, /healthz answers all along, the plugin is stuck, SIGTERM still stops the service', async () => {
    const host = await startHostContainer(HOST_BOOKWORM, join(dir, 'dist/plugins'), { args: ['--call-timeout', '2'] });
    try {
      expect(await host.post('/plugins/p/call/Value')).toEqual({ status: 200, body: { result: 7 } });
      const started = Date.now();
      const hung = host.post('/plugins/p/call/Hang');
      await new Promise((r) => setTimeout(r, 300));
      const health = await host.get('/healthz');
      expect(health.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(1500);
      const answer = await hung;
      expect(answer.status).toBe(504);
      expect(answer.body).toMatchObject({ code: 'CALL_TIMEOUT' });
      expect(Date.now() - started).toBeLessThan(6000);
      expect(await host.post('/plugins/p/call/Value')).toMatchObject({ status: 503, body: { code: 'PLUGIN_STUCK' } });
      const report = await host.get('/plugins');
      expect(report.body.plugins?.[0]).toMatchObject({ name: 'p', status: 'loaded', stuck: { fn: 'Hang' } });

      const stopAt = Date.now();
      await host.container.kill({ signal: 'SIGTERM' });
      const exit = await host.container.wait();
      expect(Date.now() - stopAt).toBeLessThan(5000);
      expect(exit.StatusCode).toBe(0);
      expect(await host.logs()).toContain('p.Hang did not return within 2000 ms');
    } finally {
      await host.stop();
    }
  }, 120_000);

  it('SIGTERM while a call is still running (before its limit): the service still stops at once', async () => {
    const host = await startHostContainer(HOST_BOOKWORM, join(dir, 'dist/plugins'), { args: ['--call-timeout', '600'] });
    try {
      const hung = host.post('/plugins/p/call/Hang').catch(() => null);
      await new Promise((r) => setTimeout(r, 500));
      expect((await host.get('/healthz')).status).toBe(200);
      const stopAt = Date.now();
      await host.container.kill({ signal: 'SIGTERM' });
      const exit = await host.container.wait();
      expect(Date.now() - stopAt).toBeLessThan(5000);
      expect(exit.StatusCode).toBe(0);
      expect(await host.logs()).toContain('exiting without waiting for 1 plugin call(s) still running');
      await hung;
    } finally {
      await host.stop();
    }
  }, 120_000);
});
