import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { HOST_BOOKWORM, requireDocker, skipDocker } from '../helpers/docker.js';
import { startHostContainer } from '../helpers/host-container.js';
import { cli, REPO } from '../helpers/project.js';

describe.skipIf(skipDocker)('builder init (real engine)', () => {
  beforeAll(requireDocker);

  it('scaffolds a config and a C plugin that build as they stand, load in the host image and answer; the config names the shipped schema and passes it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pb-init-'));
    const init = await cli(dir, ['init', '--host-image', HOST_BOOKWORM, '--name', 'calc', '--json']);
    expect(init.code, init.stdout + init.stderr).toBe(0);
    expect(JSON.parse(init.stdout)).toMatchObject({ outcome: 'initialized', files: ['builder.config.json', 'plugins/calc/calc.c', 'plugins/calc/.builderignore'] });
    const config = JSON.parse(await readFile(join(dir, 'builder.config.json'), 'utf8')) as { $schema: string };
    const schema = JSON.parse(await readFile(join(dir, config.$schema), 'utf8')) as object;
    expect(new Ajv2020({ strictRequired: false }).validate(schema, config)).toBe(true);
    expect(join(dir, config.$schema)).toBe(join(REPO, 'dist/builder.config.schema.json'));

    const build = await cli(dir, ['build']);
    expect(build.code, build.stderr).toBe(0);
    const running = await startHostContainer(HOST_BOOKWORM, join(dir, 'dist/plugins'));
    try {
      expect(await running.post('/plugins/calc/call/Add', { args: [40, 2] })).toEqual({ status: 200, body: { result: 42 } });
      expect(await running.post('/plugins/calc/call/Hello', { args: ['you'] })).toEqual({ status: 200, body: { result: 'Hello from calc, you!' } });
    } finally {
      await running.stop();
    }

    // Never over an existing file, and nothing written when one is there.
    const other = await mkdtemp(join(tmpdir(), 'pb-init-'));
    await writeFile(join(other, 'builder.config.json'), '{"mine": true}');
    const refused = await cli(other, ['init', '--host-image', HOST_BOOKWORM]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('builder.config.json already exists; init writes only new files (nothing was written)');
    expect(await readFile(join(other, 'builder.config.json'), 'utf8')).toBe('{"mine": true}');
    await expect(readFile(join(other, 'plugins/hello/hello.c'))).rejects.toMatchObject({ code: 'ENOENT' });
    const badName = await cli(other, ['init', '--host-image', HOST_BOOKWORM, '--name', '../x', '--dir', 'sub']);
    expect(badName.code).toBe(2);
    expect(badName.stderr).toContain('--name "../x" is not a plugin name');
    for (const d of [dir, other]) await rm(d, { recursive: true, force: true });
  }, 300_000);
});
