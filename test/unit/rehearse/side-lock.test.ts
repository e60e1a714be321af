import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ProjectConfig } from '../../../src/config/config.js';
import { refuseSideLockOverProject } from '../../../src/rehearse/rehearse-host.js';

const dir = await mkdtemp(join(tmpdir(), 'pb-side-lock-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

const config = {
  projectDir: dir,
  lockfile: join(dir, 'dist/plugins/builder.lock.json'),
  outDir: join(dir, 'dist/plugins'),
  hostImage: 'h',
  hostPlatforms: null,
} as unknown as ProjectConfig;

describe('builder rehearse --lock-out never lands on what is locked', () => {
  it('refuses the lockfile itself, its directory and the plugin directory, by any spelling or link', async () => {
    await mkdir(join(dir, 'dist/plugins'), { recursive: true });
    await symlink(join(dir, 'dist'), join(dir, 'alias'));
    for (const out of ['dist/plugins/builder.lock.json', 'dist/plugins/./other.json', 'dist/../dist/plugins/x.lock.json', 'alias/plugins/builder.lock.json']) {
      await expect(refuseSideLockOverProject(config, join(dir, out)), out).rejects.toMatchObject({ code: 'BAD_OPTION' });
    }
  });

  it('accepts a directory of its own, the default rehearsal/ below the lockfile included', async () => {
    await expect(refuseSideLockOverProject(config, join(dir, 'dist/plugins/rehearsal/builder.lock.json'))).resolves.toBeUndefined();
    await expect(refuseSideLockOverProject(config, join(dir, 'candidate/builder.lock.json'))).resolves.toBeUndefined();
  });
});
