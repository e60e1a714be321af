import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.js';
import { DEFAULT_HOST_LIMITS } from '../../../src/runtime/host-types.js';
import { LOCKFILE_LIMITS, MAX_CONFIG_BYTES } from '../../../src/limits.js';
import { lockfileText, readLockfile, writeLockfile } from '../../../src/lock/lockfile-io.js';
import type { Lockfile } from '../../../src/lock/lockfile.js';

const H = (c: string) => `sha256:${c.repeat(64)}`;
const ENV = { os: { id: 'debian', versionId: '12' }, arch: 'x86_64', libc: { family: 'glibc' as const, version: '2.36' } };

function lockWith(count: number, sourcesEach = 0): Lockfile {
  const env = { image: 'h', imageId: H('1'), fingerprint: ENV, fingerprintHash: H('2') };
  const plugins: Lockfile['plugins'] = {};
  for (let i = 0; i < count; i++) {
    plugins[`p${i}`] = {
      kind: 'c',
      file: `libp${i}.so`,
      sha256: 'a'.repeat(64),
      size: 1,
      inputsHash: H('3'),
      ...(sourcesEach ? { sources: Object.fromEntries(Array.from({ length: sourcesEach }, (_, j) => [`plugins/p${i}/f${j}.c`, 'b'.repeat(64)])) } : {}),
    };
  }
  return { lockfileVersion: 1, host: env, builder: { ...env, image: 'b', toolchain: {} }, plugins };
}

describe('one set of lockfile limits, where it is written and where it is read', () => {
  let dir: string;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the runtimes accept exactly what the writers may write', () => {
    expect(DEFAULT_HOST_LIMITS.maxLockfileBytes).toBe(LOCKFILE_LIMITS.maxBytes);
    expect(DEFAULT_HOST_LIMITS.maxPlugins).toBe(LOCKFILE_LIMITS.maxPlugins);
    expect(DEFAULT_HOST_LIMITS.maxSignatureBytes).toBe(LOCKFILE_LIMITS.maxSignatureBytes);
  });

  it('a lockfile the runtimes would refuse is never written (LOCKFILE_TOO_LARGE, nothing on disk)', async () => {
    dir = await mkdtemp(join(tmpdir(), 'pb-limits-'));
    expect(() => lockfileText('x', lockWith(LOCKFILE_LIMITS.maxPlugins))).not.toThrow();
    expect(() => lockfileText('x', lockWith(LOCKFILE_LIMITS.maxPlugins + 1))).toThrow(/would list 1001 plugins; runtimes accept at most 1000/);
    const big = lockWith(200, 80);
    expect(() => lockfileText('x', big)).toThrow(/runtimes accept at most 1048576\. Nothing was written/);
    await expect(writeLockfile(join(dir, 'builder.lock.json'), big)).rejects.toMatchObject({ code: 'LOCKFILE_TOO_LARGE' });
    expect(await readLockfile(join(dir, 'builder.lock.json'))).toBeNull();
  });

  it('a config over 1 MiB, or naming more plugins than a lockfile may hold, is refused before it is parsed whole', async () => {
    dir = await mkdtemp(join(tmpdir(), 'pb-limits-'));
    const file = join(dir, 'builder.config.json');
    await writeFile(file, `{"host":{"image":"x"},"plugins":[],"pad":"${'x'.repeat(MAX_CONFIG_BYTES)}"}`);
    await expect(loadConfig(file)).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringContaining(`more than the limit of ${MAX_CONFIG_BYTES}`) });
    await writeFile(file, JSON.stringify({ host: { image: 'x' }, plugins: Array.from({ length: 1001 }, (_, i) => ({ name: `p${i}`, kind: 'c', path: 'p' })) }));
    await expect(loadConfig(file)).rejects.toMatchObject({ message: expect.stringContaining('at most 1000 plugins') });
  });
});
