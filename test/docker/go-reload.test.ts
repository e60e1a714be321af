import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLockfile } from '../../src/lock/lockfile.js';
import { GO_HOST_BOOKWORM, requireDocker, skipDocker } from '../helpers/docker.js';
import { type HostContainer, startHostContainer } from '../helpers/host-container.js';
import { cli, copyProject, editJson } from '../helpers/project.js';
import { hostileRequest, sendRaw } from '../helpers/raw-http.js';

interface GoReport {
  trust: string;
  lockfile: { status: string; code?: string; signedBy?: string[] };
  plugins: Array<{ name: string; status: string; sha256?: string; version?: string; functions?: string[]; code?: string; reason?: string }>;
}

/**
 * The metrics demo, against the real Go host container, without a restart: cpu only; disk
 * added and reloaded; cpu v2 replacing v1 — every step over HTTP. Lockfiles are signed and
 * the host trusts the key, so a reload also proves the Go side verifies the envelope.
 */
describe.skipIf(skipDocker)('Go host hot reload: the metrics demo (real engine, real plugin.Open)', () => {
  let project: string;
  let keyDir: string;
  let key: string;
  let pub: string;
  let host: HostContainer;
  const config = () => join(project, 'metrics.config.json');
  const out = () => join(project, 'dist/metrics');
  const lock = async () => parseLockfile(await readFile(join(out(), 'builder.lock.json'), 'utf8'));
  const build = async (extra: string[] = []) => {
    const run = await cli(project, ['build', '-c', 'metrics.config.json', '--sign-key', key, ...extra]);
    expect(run.code, run.stderr).toBe(0);
    return run;
  };
  const plugins = async () => {
    const res = await host.get('/plugins');
    expect(res.status).toBe(200);
    return res.body as unknown as GoReport;
  };
  const metrics = async () => {
    const res = await fetch(`${host.url}/metrics`, { signal: AbortSignal.timeout(10_000) });
    return (await res.json()) as Record<string, string>;
  };

  beforeAll(async () => {
    await requireDocker();
    project = await copyProject('examples/go-host');
    keyDir = await mkdtemp(join(tmpdir(), 'pb-go-keys-'));
    const keys = await cli(keyDir, ['keygen', '--out-dir', keyDir, '--name', 'ci', '--json']);
    expect(keys.code, keys.stderr).toBe(0);
    ({ privateKey: key, publicKey: pub } = JSON.parse(keys.stdout) as { privateKey: string; publicKey: string });
    await editJson(config(), (c) => {
      c.plugins = (c.plugins as Array<{ name: string }>).filter((p) => p.name === 'cpu');
    });
    await build();
    host = await startHostContainer(GO_HOST_BOOKWORM, out(), {
      command: (port) => ['-listen', `127.0.0.1:${port}`, '-trust-dir', '/app/trust'],
      trust: { 'ci.pub': await readFile(pub, 'utf8') },
    });
  }, 600_000);

  afterAll(async () => {
    await host?.stop();
    if (project) await rm(project, { recursive: true, force: true });
    if (keyDir) await rm(keyDir, { recursive: true, force: true });
  });

  it('runs with cpu only, signed and verified', async () => {
    const report = await plugins();
    expect(report.trust).toBe('signed');
    expect(report.lockfile.status).toBe('accepted');
    expect(report.plugins).toEqual([expect.objectContaining({ name: 'cpu', status: 'loaded', version: '1.0.0', functions: ['cpu'], sha256: (await lock()).plugins.cpu?.sha256 })]);
    expect((await metrics()).cpu).toMatch(/^load \d+\.\d+$/);
  });

  it('disk added: built, deployed, reloaded — loaded beside cpu, which keeps its version', async () => {
    const started = (await host.container.inspect()).State.StartedAt;
    const cpuBefore = (await lock()).plugins.cpu;
    await editJson(config(), (c) => {
      c.plugins = [
        { name: 'cpu', kind: 'go-plugin', path: 'plugins/cpu' },
        { name: 'disk', kind: 'go-plugin', path: 'plugins/disk' },
      ];
    });
    await build();
    expect((await lock()).plugins.cpu).toEqual(cpuBefore);
    await host.deploy(out());
    const reload = await host.put('/plugins/reload');
    expect(reload.status).toBe(200);
    const report = reload.body as unknown as GoReport;
    expect(report.plugins.map((p) => [p.name, p.status, p.version])).toEqual([['cpu', 'loaded', '1.0.0'], ['disk', 'loaded', '1.0.0']]);
    expect(await metrics()).toEqual({ cpu: expect.stringMatching(/^load /), disk: expect.stringMatching(/^free \d+ MiB$/) });
    expect((await host.container.inspect()).State.StartedAt).toBe(started);
  });

  it('cpu v2 replaces v1 in the running process: a new plugin path, loaded beside the old one, switched over', async () => {
    const started = (await host.container.inspect()).State.StartedAt;
    const v1 = (await lock()).plugins.cpu;
    const source = join(project, 'plugins/cpu/main.go');
    await writeFile(source, (await readFile(source, 'utf8')).replace('"1.0.0"', '"2.0.0"').replace('"load "', '"v2 load "'));
    await build();
    const v2 = (await lock()).plugins.cpu;
    expect(v2?.sha256).not.toBe(v1?.sha256);
    expect(v2?.pluginPath).toMatch(/^plugin\/unnamed-[0-9a-f]{40}$/);
    expect(v2?.pluginPath).not.toBe(v1?.pluginPath);
    await host.deploy(out());
    const reload = await host.put('/plugins/reload');
    expect(reload.status).toBe(200);
    expect((reload.body as unknown as GoReport).plugins.find((p) => p.name === 'cpu')).toMatchObject({ status: 'loaded', version: '2.0.0', sha256: v2?.sha256 });
    expect((await metrics()).cpu).toMatch(/^v2 load /);
    expect((await host.container.inspect()).State.StartedAt).toBe(started);
  });

  it('an unsigned lockfile, then a tampered plugin: refused, and what serves keeps serving', async () => {
    const signed = await readFile(join(out(), 'builder.lock.json.sig'));
    await host.exec(['rm', '/app/plugins/builder.lock.json.sig']);
    const unsigned = await host.put('/plugins/reload');
    expect(unsigned.status).toBe(409);
    expect(unsigned.body.code).toBe('UNSIGNED_LOCKFILE');
    expect((await metrics()).cpu).toMatch(/^v2 load /);

    // A lockfile entry pointing at other bytes, with its signature still the old one.
    const lockPath = join(out(), 'builder.lock.json');
    const text = await readFile(lockPath, 'utf8');
    await writeFile(lockPath, text.replace((await lock()).plugins.disk?.sha256 as string, '0'.repeat(64)));
    await writeFile(join(out(), 'builder.lock.json.sig'), signed);
    await host.deploy(out());
    const forged = await host.put('/plugins/reload');
    expect(forged.status).toBe(409);
    expect(forged.body.code).toBe('BAD_SIGNATURE');
    const report = await plugins();
    expect(report.plugins.map((p) => [p.name, p.status, p.version])).toEqual([['cpu', 'loaded', '2.0.0'], ['disk', 'loaded', '1.0.0']]);
    expect(await metrics()).toEqual({ cpu: expect.stringMatching(/^v2 load /), disk: expect.stringMatching(/^free /) });
  });

  it('a plugin whose Register panics, and one with the wrong Register: rejected with BAD_REGISTER, the host lives on', async () => {
    // Start from a consistent, signed lockfile again (the previous test left a forged one).
    const source = join(project, 'plugins/cpu/main.go');
    for (const [name, body] of [['panics', 'func Register(r shared.Registrar) { panic("boom") }'], ['wrongtype', 'func Register(n int) { _ = shared.Version }']] as const) {
      await mkdir(join(project, 'plugins', name), { recursive: true });
      await writeFile(join(project, 'plugins', name, 'go.mod'), (await readFile(join(project, 'plugins/cpu/go.mod'), 'utf8')).replace('example.com/cpu', `example.com/${name}`));
      await writeFile(join(project, 'plugins', name, 'main.go'), `package main\n\nimport "example.com/shared"\n\n${body}\n`);
    }
    expect(await readFile(source, 'utf8')).toContain('v2 load');
    await editJson(config(), (c) => {
      (c.plugins as Array<Record<string, string>>).push({ name: 'panics', kind: 'go-plugin', path: 'plugins/panics' }, { name: 'wrongtype', kind: 'go-plugin', path: 'plugins/wrongtype' });
    });
    // The build's proof runs the host's own Register on them and refuses both: forced through, for the host to refuse.
    const proven = await cli(project, ['build', '-c', 'metrics.config.json', '--sign-key', key]);
    expect(proven.code).toBe(1);
    expect(proven.stdout).toMatch(/panics\s+go-plugin\s+failed.*BAD_REGISTER: Plugin "panics" cannot register: Register panicked: boom/);
    await build(['--no-prove']);
    await host.deploy(out());
    const reload = await host.put('/plugins/reload');
    expect(reload.status).toBe(200);
    const byName = Object.fromEntries((reload.body as unknown as GoReport).plugins.map((p) => [p.name, p]));
    expect(byName.panics).toMatchObject({ status: 'rejected', code: 'BAD_REGISTER', reason: expect.stringContaining('Register panicked: boom') });
    expect(byName.wrongtype).toMatchObject({ status: 'rejected', code: 'BAD_REGISTER', reason: expect.stringContaining('Register has type func(int)') });
    expect([byName.cpu?.status, byName.cpu?.version, byName.disk?.status]).toEqual(['loaded', '2.0.0', 'loaded']);
    // A version refused after plugin.Open is never opened again: the next reload reports the same.
    const again = await host.put('/plugins/reload');
    expect((again.body as unknown as GoReport).plugins.find((p) => p.name === 'panics')?.code).toBe('BAD_REGISTER');
    expect((await host.container.inspect()).State.Running).toBe(true);
  });

  it('fuzz against the Go host: hostile HTTP never gets a 5xx and never takes it down; what serves keeps serving', async () => {
    let answered = 0;
    await fc.assert(
      fc.asyncProperty(hostileRequest, async ({ bytes, framed }) => {
        const answer = await sendRaw(host.port, bytes, 3000, '127.0.0.1', !framed);
        if (answer.statuses.length > 0) answered++;
        for (const status of answer.statuses) expect(status, bytes.toString('latin1').slice(0, 300)).toBeLessThan(500);
      }),
      { numRuns: 1000 },
    );
    expect(answered).toBeGreaterThan(900);
    expect((await host.container.inspect()).State.Running).toBe(true);
    expect(await metrics()).toEqual({ cpu: expect.stringMatching(/^v2 load /), disk: expect.stringMatching(/^free /) });
  }, 300_000);
});
