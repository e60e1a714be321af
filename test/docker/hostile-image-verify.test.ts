import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOST_BOOKWORM, requireDocker, skipDocker } from '../helpers/docker.js';
import { buildTestImage } from '../helpers/images.js';
import { cli, copyProject } from '../helpers/project.js';

const LOOP = 'plugin-builder/test-hostile-cmd-loop:bookworm';

/** What verify reads of an image because its Cmd names it (the script, koffi's addon beside it): a hostile image cannot stop verify. */
describe.skipIf(skipDocker)('verify against an image whose Cmd leads into a symlink loop (real engine)', () => {
  let project: string;
  beforeAll(async () => {
    await requireDocker();
    // The script's directory and koffi's addon path are symlink loops: the engine answers 500 "too many links".
    await buildTestImage(LOOP, `FROM ${HOST_BOOKWORM}\nUSER root\nRUN ln -s /srv/loop /srv/loop && mkdir -p /opt/app/node_modules/koffi/build/koffi/linux_x64 && ln -s koffi.node /opt/app/node_modules/koffi/build/koffi/linux_x64/koffi.node\nUSER 10001\nCMD ["node", "/srv/loop/dist/x.js"]\n`);
    project = await copyProject('examples/hello');
    expect((await cli(project, ['build', '--no-prove'])).code).toBe(0);
  }, 600_000);
  afterAll(async () => {
    await new Docker().getImage(LOOP).remove({ force: true }).catch(() => undefined);
    if (project) await rm(project, { recursive: true, force: true });
  });

  it('a loop is a path the loader cannot open either: verify answers (no ENGINE_* error) with the same verdicts', async () => {
    const dir = join(project, 'dist/plugins');
    const run = await cli(project, ['verify', '--image', LOOP, '--dir', dir, '--json']);
    expect([0, 1], run.stdout + run.stderr).toContain(run.code);
    const report = JSON.parse(run.stdout) as { plugins: Array<{ name: string; outcome: string }> };
    expect(report.plugins.map((p) => [p.name, p.outcome])).toEqual([['greet', 'loads'], ['shout', 'loads']]);
    const direct = await cli(project, ['verify', '--image', LOOP, '--dir', dir, '--json', '--loader-program', '/usr/bin/node']);
    expect([0, 1]).toContain(direct.code);
  }, 300_000);
});
