import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../../src/util/write-file-atomic.js';
import { tempDir } from '../../helpers/fake-plugins.js';

describe('writeFileAtomic', () => {
  it('replaces by default; with replace: false it refuses an existing file and leaves no temp behind', async () => {
    const dir = await tempDir('pb-atomic-');
    const path = join(dir, 'k.key');
    await writeFileAtomic(path, 'one', 0o600, { replace: false });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    await expect(writeFileAtomic(path, 'two', 0o600, { replace: false })).rejects.toMatchObject({ code: 'EEXIST' });
    expect(await readFile(path, 'utf8')).toBe('one');
    await writeFileAtomic(path, 'three');
    expect(await readFile(path, 'utf8')).toBe('three');
    expect(await readdir(dir)).toEqual(['k.key']);
    await writeFile(join(dir, 'other'), 'x');
    expect((await readdir(dir)).sort()).toEqual(['k.key', 'other']);
  });
});
