import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { collectSources } from '../../../src/building/sources.js';

describe('collectSources: file names', () => {
  let dir: string;
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a name that is not UTF-8 is refused by name (SOURCE_NAME_NOT_UTF8, bytes escaped), never taken for a file that does not exist', async () => {
    dir = await mkdtemp(join(tmpdir(), 'pb-sources-'));
    await mkdir(join(dir, 'sub'));
    await writeFile(join(dir, 'ok.c'), 'int x;');
    await writeFile(Buffer.concat([Buffer.from(join(dir, 'sub') + '/'), Buffer.from([0x66, 0xff, 0x1b, 0x2e, 0x63])]), 'int y;');
    const err = await collectSources(dir).then(() => null, (e: unknown) => e as { code: string; message: string; fix: string });
    expect(err?.code).toBe('SOURCE_NAME_NOT_UTF8');
    expect(err?.message).toContain('"f\\xff\\x1b.c"');
    expect(err?.message).not.toMatch(/[\u0000-\u001f\u007f-\u00ff]/);
    expect(err?.fix).toContain('UTF-8');
  });

  it('UTF-8 names (accents, CJK, spaces, newlines) are collected as they are', async () => {
    dir = await mkdtemp(join(tmpdir(), 'pb-sources-'));
    for (const name of ['é.c', '漢字.h', 'a b.c', 'x\ny.h']) await writeFile(join(dir, name), name);
    expect((await collectSources(dir)).map((f) => f.path)).toEqual(['a b.c', 'x\ny.h', 'é.c', '漢字.h']);
  });
});
