import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { sentinelLockfile } from '../helpers/sample-locks.js';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildProject } from '../../src/building/build-project.js';
import type { BuildEvent } from '../../src/building/build-events.js';
import { loadConfig } from '../../src/config/load-config.js';
import { managedLabels } from '../../src/docker/engine.js';
import { extractFlatFiles } from '../../src/docker/tar-streams.js';
import { EnvironmentMismatchError, UnsafeArtifactError } from '../../src/errors.js';
import { packageRoot } from '../../src/package-root.js';
import { BASE_BOOKWORM, engine, requireDocker, skipDocker } from '../helpers/docker.js';
import { CountingEngine } from '../helpers/counting-engine.js';
import { cli, copyProject } from '../helpers/project.js';

describe.skipIf(skipDocker)('builder build refusals and failures (real engine)', () => {
  beforeAll(requireDocker);

  it('refuses a builder base whose libc differs from the host, before building anything', async () => {
    const dir = await copyProject('test/fixtures/mismatched-base');
    const events: BuildEvent[] = [];
    const config = await loadConfig(join(dir, 'builder.config.json'));
    const counting = new CountingEngine(engine);
    const error = await buildProject(config, { check: false }, { engine: counting, recipeDir: packageRoot(), report: (e) => events.push(e) }).then(
      () => null,
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(EnvironmentMismatchError);
    const fields = (error as EnvironmentMismatchError).differences.map((d) => `${d.field}: ${d.expected} → ${d.actual}`);
    expect(fields).toEqual(['libc.version: 2.36 → 2.41', 'os.versionId: 12 → 13']);
    // Nothing was built: no image build, no builder image step, no plugin step.
    expect(counting.imagesBuilt).toBe(0);
    expect(events.some((e) => e.type === 'plugin-start' || (e.type === 'step' && e.message.startsWith('builder image')))).toBe(false);

    const run = await cli(dir, ['build']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('libc.version: 2.36 → 2.41');
    expect(run.stderr).toContain('os.versionId: 12 → 13');
    expect(run.stderr).toContain('fix:');
    expect(await readdir(dir)).not.toContain('builder.lock.json');
  });

  it('a compile error fails the build, shows the compiler output, and leaves the lockfile untouched', async () => {
    const dir = await copyProject('test/fixtures/syntax-error');
    const sentinel = sentinelLockfile();
    await writeFile(join(dir, 'builder.lock.json'), sentinel);

    const run = await cli(dir, ['build']);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/bad: FAILED/);
    expect(run.stderr).toMatch(/bad\.c:3:1: error: expected expression before '}' token/);
    expect(run.stdout).toMatch(/good\s+c\s+built/);
    expect(run.stdout).toMatch(/bad\s+c\s+failed/);
    expect(await readFile(join(dir, 'builder.lock.json'), 'utf8')).toBe(sentinel);
    // No partial writes: the good plugin's artifact did not land either, and no staging is left
    // (outDir itself is made before the build, so that a directory that cannot be made fails early).
    expect(await readdir(join(dir, 'dist'))).toEqual(['plugins']);
    expect(await readdir(join(dir, 'dist/plugins'))).toEqual([]);

    const json = await cli(dir, ['build', '--json']);
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout) as { outcome: string; plugins: Array<{ name: string; status: string; output?: string }> };
    expect(report.outcome).toBe('failed');
    expect(report.plugins.find((p) => p.name === 'bad')?.output).toContain('error:');
  });

  it('refuses container output that is a symlink or sits outside the output directory', async () => {
    const container = await engine.createContainer({
      image: BASE_BOOKWORM,
      cmd: ['sh', '-c', 'mkdir -p /out/sub && ln -s /etc/passwd /out/libevil.so && echo x > /out/sub/x.so'],
      labels: managedLabels('test'),
    });
    try {
      expect((await container.run()).exitCode).toBe(0);
      const dest = join(await copyProject('test/fixtures/syntax-error'), 'staging');
      await mkdir(dest);
      await expect(container.readArchive('/out', (tar) => extractFlatFiles(tar, dest, 1 << 20))).rejects.toBeInstanceOf(UnsafeArtifactError);
      expect(await readdir(dest)).not.toContain('x.so');
    } finally {
      await container.remove();
    }
  });
});
