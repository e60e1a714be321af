import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLockfile, serializeLockfile } from '../../src/lock/lockfile.js';
import { sha256Hex } from '../../src/util/sha256.js';
import { GO_HOST_BOOKWORM, GO_HOST_TRIXIE, requireDocker, skipDocker } from '../helpers/docker.js';
import { type HostContainer, startHostContainer } from '../helpers/host-container.js';
import { cli, copyProject, editJson } from '../helpers/project.js';

interface GoStatus {
  name: string;
  status: string;
  version?: string;
  code?: string;
  reason?: string;
}

/**
 * The Go pluginhost: a build's proof runs the host binary's own canary entry in the host image,
 * and the host loads each new version first in a child of itself (the same binary, arguments and
 * environment), so a plugin that crashes plugin.Open costs the child, never the serving host.
 */
describe.skipIf(skipDocker)('Go pluginhost: proof at build, canary before every swap (real gohost, real plugin.Open)', () => {
  let project: string;
  let keyDir: string;
  let key: string;
  let pub: string;
  let host: HostContainer;
  const out = () => join(project, 'dist/metrics');
  const lockOf = async (dir = out()) => parseLockfile(await readFile(join(dir, 'builder.lock.json'), 'utf8'));
  const cpu = async (): Promise<GoStatus | undefined> => ((await host.get('/plugins')).body as unknown as { plugins: GoStatus[] }).plugins.find((p) => p.name === 'cpu');
  const metrics = async () => (await (await fetch(`${host.url}/metrics`, { signal: AbortSignal.timeout(10_000) })).json()) as Record<string, string>;

  beforeAll(async () => {
    await requireDocker();
    project = await copyProject('examples/go-host');
    keyDir = await mkdtemp(join(tmpdir(), 'pb-go-canary-keys-'));
    const keys = await cli(keyDir, ['keygen', '--out-dir', keyDir, '--name', 'ci', '--json']);
    ({ privateKey: key, publicKey: pub } = JSON.parse(keys.stdout) as { privateKey: string; publicKey: string });
    await editJson(join(project, 'metrics.config.json'), (c) => {
      c.plugins = (c.plugins as Array<{ name: string }>).filter((p) => p.name === 'cpu');
    });
    const build = await cli(project, ['build', '-c', 'metrics.config.json', '--sign-key', key]);
    expect(build.code, build.stderr).toBe(0);
    expect(build.stderr).toMatch(/proving 1 artifact\(s\) load in plugin-builder\/go-host:bookworm .* by \/app\/gohost with PLUGINHOST_CANARY/);
    host = await startHostContainer(GO_HOST_BOOKWORM, out(), {
      command: (port) => ['-listen', `127.0.0.1:${port}`, '-trust-dir', '/app/trust'],
      trust: { 'ci.pub': await readFile(pub, 'utf8') },
    });
  }, 900_000);

  afterAll(async () => {
    await host?.stop();
    for (const dir of [project, keyDir]) if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("the build proved the plugin by the host binary's own canary entry; the lockfile says so", async () => {
    const lock = await lockOf();
    expect(lock.plugins.cpu!.proof).toEqual({ result: 'loaded', imageId: lock.host.imageId, program: expect.stringContaining('/app/gohost with PLUGINHOST_CANARY') });
    expect(await cpu()).toMatchObject({ status: 'loaded', version: '1.0.0' });
  });

  it("a plugin whose init panics: the build's proof refuses it; forced through (--no-prove), the reload is CANARY_CRASHED and v1 keeps answering", async () => {
    const source = join(project, 'plugins/cpu/main.go');
    const v1 = await readFile(source, 'utf8');
    await writeFile(source, v1.replace('"1.0.0"', '"2.0.0"').replace('// Register is', 'func init() { var p *int; *p = 1 }\n\n// Register is'));
    const proven = await cli(project, ['build', '-c', 'metrics.config.json', '--sign-key', key]);
    expect(proven.code).toBe(1);
    expect(proven.stdout).toMatch(/cpu\s+go-plugin\s+failed.*the loading process exited with status 2 while loading it.*panic: runtime error: invalid memory address or nil pointer dereference/);
    const forced = await cli(project, ['build', '-c', 'metrics.config.json', '--sign-key', key, '--no-prove']);
    expect(forced.code, forced.stderr).toBe(0);
    await host.deploy(out());
    const started = (await host.container.inspect()).State.StartedAt;
    const reload = await host.put('/plugins/reload');
    expect(reload.status).toBe(200);
    const status = await cpu();
    expect(status).toMatchObject({ status: 'loaded', version: '1.0.0', code: 'CANARY_CRASHED' });
    expect(status?.reason).toMatch(/the canary process that loaded it first exited with status 2; it said: panic: runtime error: invalid memory address/);
    expect((await metrics()).cpu).toMatch(/^load /);
    expect((await host.container.inspect()).State.StartedAt).toBe(started);
    await writeFile(source, v1);
  }, 600_000);

  it('a plugin built by another Go release under a lockfile that claims this one: CANARY_CRASHED, v1 keeps answering', async () => {
    // The same cpu plugin built for the trixie Go host (another Go release).
    const other = await copyProject('examples/go-host');
    const staged = await mkdtemp(join(tmpdir(), 'pb-go-foreign-'));
    try {
      await editJson(join(other, 'metrics.config.json'), (c) => {
        c.host = { image: GO_HOST_TRIXIE, binary: '/app/gohost' };
        c.plugins = (c.plugins as Array<{ name: string }>).filter((p) => p.name === 'cpu');
      });
      const built = await cli(other, ['build', '-c', 'metrics.config.json']);
      expect(built.code, built.stderr).toBe(0);
      const foreign = await readFile(join(other, 'dist/metrics/libcpu.so'));
      const otherLock = await lockOf(join(other, 'dist/metrics'));
      const lock = await lockOf();
      expect(otherLock.plugins.cpu!.goVersion).not.toBe(lock.plugins.cpu!.goVersion);
      // The entry keeps this host's Go version (so the Go check before plugin.Open passes) and is signed by the trusted key.
      await cp(out(), staged, { recursive: true });
      await writeFile(join(staged, 'libcpu.so'), foreign);
      lock.plugins.cpu = { ...lock.plugins.cpu!, sha256: sha256Hex(foreign), size: foreign.length, pluginPath: otherLock.plugins.cpu!.pluginPath! };
      await writeFile(join(staged, 'builder.lock.json'), serializeLockfile(lock));
      const signed = await cli(staged, ['sign', '--key', key, '--lock', join(staged, 'builder.lock.json'), '--dir', staged]);
      expect(signed.code, signed.stderr).toBe(0);
      await host.deploy(staged);
      const started = (await host.container.inspect()).State.StartedAt;
      const reload = await host.put('/plugins/reload');
      expect(reload.status).toBe(200);
      const status = await cpu();
      expect(status).toMatchObject({ status: 'loaded', version: '1.0.0' });
      // plugin.Open of another Go release's plugin kills the process (golang/go: "no plugin module data"): the child's, not the host's.
      expect(status?.code).toBe('CANARY_CRASHED');
      expect(status?.reason).toMatch(/the canary process that loaded it first exited with status 2; it said: fatal error: runtime: no plugin module data/);
      expect((await metrics()).cpu).toMatch(/^load /);
      expect((await host.container.inspect()).State.StartedAt).toBe(started);
    } finally {
      await rm(other, { recursive: true, force: true });
      await rm(staged, { recursive: true, force: true });
    }
  }, 900_000);
});
