import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Docker from 'dockerode';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BuildReport } from '../../src/building/build-report.js';
import type { PluginPlanEntry } from '../../src/building/plan-project.js';
import { requireDocker, skipDocker } from '../helpers/docker.js';
import { cli, copyProject, editJson } from '../helpers/project.js';

const docker = new Docker();

async function plan(dir: string, args: string[] = []): Promise<{ outcome: string; plugins: PluginPlanEntry[] }> {
  const run = await cli(dir, ['plan', ...args, '--json']);
  expect(run.code, run.stdout + run.stderr).toBe(0);
  return JSON.parse(run.stdout) as { outcome: string; plugins: PluginPlanEntry[] };
}

const reasons = (p: { plugins: PluginPlanEntry[] }) => Object.fromEntries(p.plugins.map((e) => [e.name, `${e.action} ${e.reason}: ${e.detail}`]));

describe.skipIf(skipDocker)('builder plan and builder build NAME… (real engine)', () => {
  beforeAll(requireDocker);

  it('plan says what build would do and why — new, which files changed, artifact missing or altered, unchanged — and build NAME… builds only those, the others kept as locked', async () => {
    const dir = await copyProject('examples/hello');
    expect(reasons(await plan(dir))).toEqual({ greet: 'build new: no lockfile yet', shout: 'build new: no lockfile yet' });
    expect((await cli(dir, ['build'])).code).toBe(0);
    const lockPath = join(dir, 'dist/plugins/builder.lock.json');
    const lockBefore = await readFile(lockPath, 'utf8');
    expect(JSON.parse(lockBefore).plugins.greet.sources).toEqual({ 'plugins/greet/greet.c': expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(await plan(dir)).toMatchObject({ outcome: 'up-to-date' });

    await writeFile(join(dir, 'plugins/greet/greet.c'), `${await readFile(join(dir, 'plugins/greet/greet.c'), 'utf8')}\nint greet_extra(void) { return 7; }\n`);
    await writeFile(join(dir, 'plugins/greet/extra.h'), '#define EXTRA 1\n');
    const shout = join(dir, 'dist/plugins/libshout.so');
    const shoutBytes = await readFile(shout);
    await writeFile(shout, Buffer.concat([shoutBytes, Buffer.from('tampered')]));
    const changed = await plan(dir);
    expect(changed.outcome).toBe('changes');
    expect(reasons(changed)).toEqual({
      greet: 'build inputs-changed: changed: plugins/greet/greet.c; added: plugins/greet/extra.h',
      shout: `build artifact-changed: libshout.so is ${shoutBytes.length + 8} bytes, the lockfile says ${shoutBytes.length}`,
    });
    expect(changed.plugins[0]!.changedFiles).toEqual({ added: ['plugins/greet/extra.h'], removed: [], changed: ['plugins/greet/greet.c'] });
    // plan wrote nothing.
    expect(await readFile(lockPath, 'utf8')).toBe(lockBefore);

    const subset = await cli(dir, ['build', 'greet', '--json']);
    expect(subset.code, subset.stdout).toBe(0);
    const report = JSON.parse(subset.stdout) as BuildReport;
    expect(report.plugins.map((p) => [p.name, p.status, p.reason ?? ''])).toEqual([
      ['greet', 'built', ''],
      ['shout', 'kept', 'not named: kept as locked, but libshout.so is missing or changed (build it)'],
    ]);
    const lockAfter = JSON.parse(await readFile(lockPath, 'utf8'));
    expect(lockAfter.plugins.shout).toEqual(JSON.parse(lockBefore).plugins.shout);
    expect(lockAfter.plugins.greet.sha256).not.toBe(JSON.parse(lockBefore).plugins.greet.sha256);
    expect(await readFile(shout)).toEqual(Buffer.concat([shoutBytes, Buffer.from('tampered')]));
    expect(reasons(await plan(dir, ['shout']))).toEqual({ shout: `build artifact-changed: libshout.so is ${shoutBytes.length + 8} bytes, the lockfile says ${shoutBytes.length}` });
    expect((await cli(dir, ['build', 'shout'])).code).toBe(0);
    expect(await plan(dir)).toMatchObject({ outcome: 'up-to-date' });

    const unknown = await cli(dir, ['build', 'gret']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('No plugin named "gret"');
    expect(unknown.stderr).toContain('Name one of: greet, shout.');
    await rm(dir, { recursive: true, force: true });
  }, 300_000);

  it('a builder image that is not on the engine: plan says every plugin would be rebuilt, and builds nothing; a subset build over a changed environment is refused', async () => {
    const dir = await copyProject('examples/hello');
    expect((await cli(dir, ['build'])).code).toBe(0);
    // A package no other test asks for: a builder tag the engine has never seen.
    await editJson(join(dir, 'builder.config.json'), (c) => {
      c.builder = { packages: ['libzstd-dev'] };
    });
    const imagesBefore = (await docker.listImages()).length;
    const absent = await plan(dir);
    expect(absent.plugins.map((p) => [p.name, p.action, p.reason])).toEqual([['greet', 'build', 'environment'], ['shout', 'build', 'environment']]);
    expect(absent.plugins[0]!.detail).toMatch(/^the builder image plugin-builder\/builder:\w+ is not on the engine: it would be built/);
    expect((await docker.listImages()).length).toBe(imagesBefore);

    // The lockfile's builder is not this one: building only greet would lock shout under a builder that did not build it.
    await editJson(join(dir, 'builder.config.json'), (c) => {
      delete c.builder;
    });
    await editJson(join(dir, 'dist/plugins/builder.lock.json'), (l) => {
      (l.builder as { imageId: string }).imageId = `sha256:${'0'.repeat(64)}`;
    });
    const refused = await cli(dir, ['build', 'greet']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('Cannot build only some plugins: the builder image (sha256:000000000000 → sha256:');
    expect(refused.stderr).toContain('Build every plugin: `builder build` without names');
    await rm(dir, { recursive: true, force: true });
  }, 300_000);

  it('exclude and .builderignore: a file left out is neither hashed nor uploaded (a broken C file excluded no longer breaks the compile)', async () => {
    const dir = await copyProject('examples/hello');
    await writeFile(join(dir, 'plugins/greet/broken.c'), 'this is not C;\n');
    const failing = await cli(dir, ['build', 'greet']);
    expect(failing.code).toBe(1);
    await editJson(join(dir, 'builder.config.json'), (c) => {
      (c.plugins as Array<Record<string, unknown>>)[0]!.exclude = ['broken.c'];
    });
    const built = await cli(dir, ['build', '--json']);
    expect(built.code, built.stdout).toBe(0);
    const lock = JSON.parse(await readFile(join(dir, 'dist/plugins/builder.lock.json'), 'utf8'));
    expect(Object.keys(lock.plugins.greet.sources)).toEqual(['plugins/greet/greet.c']);
    // The same through .builderignore, with the config's exclude gone: nothing changes.
    await editJson(join(dir, 'builder.config.json'), (c) => {
      delete (c.plugins as Array<Record<string, unknown>>)[0]!.exclude;
    });
    await writeFile(join(dir, 'plugins/greet/.builderignore'), '# scratch files\nbroken.c\n');
    expect(await plan(dir)).toMatchObject({ outcome: 'up-to-date' });
    await rm(dir, { recursive: true, force: true });
  }, 300_000);
});
