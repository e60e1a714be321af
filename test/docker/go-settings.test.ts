import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLockfile } from '../../src/lock/lockfile.js';
import { GO_HOST_BOOKWORM, GO_HOST_DEBUG, GO_HOST_RACE, requireDocker, skipDocker } from '../helpers/docker.js';
import { startHostContainer } from '../helpers/host-container.js';
import { cli, copyProject, editJson } from '../helpers/project.js';

/** The metrics example with its cpu plugin only, for `image`. */
async function cpuProject(image: string): Promise<string> {
  const dir = await copyProject('examples/go-host');
  await editJson(join(dir, 'metrics.config.json'), (c) => {
    c.host = { image, binary: '/app/gohost' };
    c.plugins = (c.plugins as Array<{ name: string }>).filter((p) => p.name === 'cpu');
  });
  return dir;
}

const build = (dir: string, extra: string[] = []) => cli(dir, ['build', '-c', 'metrics.config.json', ...extra]);
const lockOf = async (dir: string) => parseLockfile(await readFile(join(dir, 'dist/metrics/builder.lock.json'), 'utf8'));

/**
 * Go hosts built with settings that change every package's hash — the race detector, a
 * debugger's -gcflags — get plugins built the same way (the settings come from the host
 * binary's build info), proven, loaded and hot-reloaded; drift sees the settings.
 */
describe.skipIf(skipDocker)('Go hosts built with -race or -gcflags=all=-N -l (real engine, real plugin.Open)', () => {
  const dirs: string[] = [];
  let plain: string;
  beforeAll(async () => {
    await requireDocker();
    plain = await cpuProject(GO_HOST_BOOKWORM);
    dirs.push(plain);
    const run = await build(plain);
    expect(run.code, run.stderr).toBe(0);
  }, 600_000);
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it.each([
    { image: GO_HOST_RACE, setting: '-race', value: 'true' },
    { image: GO_HOST_DEBUG, setting: '-gcflags', value: 'all=-N -l' },
  ])('$image ($setting): plugins build with it, are proven, load and hot-reload; drift from the plain host is breaking', async ({ image, setting, value }) => {
    const dir = await cpuProject(image);
    dirs.push(dir);
    const first = await build(dir);
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const lock = await lockOf(dir);
    expect(lock.host.fingerprint.go?.settings[setting]).toBe(value);
    expect(lock.plugins.cpu!.proof?.result).toBe('loaded');

    const host = await startHostContainer(image, join(dir, 'dist/metrics'), { command: (port) => ['-listen', `127.0.0.1:${port}`] });
    try {
      const metrics = async () => (await (await fetch(`${host.url}/metrics`, { signal: AbortSignal.timeout(20_000) })).json()) as Record<string, string>;
      expect((await metrics()).cpu).toMatch(/^load /);
      const source = join(dir, 'plugins/cpu/main.go');
      await writeFile(source, (await readFile(source, 'utf8')).replace('"1.0.0"', '"2.0.0"').replace('"load "', '"v2 load "'));
      expect((await build(dir)).code).toBe(0);
      await host.deploy(join(dir, 'dist/metrics'));
      const reload = await host.put('/plugins/reload');
      expect(reload.status).toBe(200);
      expect((reload.body.plugins ?? []).find((p) => p.name === 'cpu')).toMatchObject({ status: 'loaded', version: '2.0.0' });
      expect((await metrics()).cpu).toMatch(/^v2 load /);
    } finally {
      await host.stop();
    }

    // Plugins built for the plain host, against this one: the setting is a breaking difference.
    const drift = await cli(plain, ['drift', '-c', 'metrics.config.json', '--image', image]);
    expect(drift.code, drift.stdout).toBe(1);
    expect(drift.stdout).toContain(`go.settings.${setting}`);
  }, 900_000);
});
