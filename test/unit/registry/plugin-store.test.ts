import { mkdir, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { digestOf } from '../../../src/oci/descriptor.js';
import { PluginStore } from '../../../src/registry/plugin-store.js';
import { tempDir } from '../../helpers/fake-plugins.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function storeWithSets(maxBytes: number, sizes: number[]): Promise<{ store: PluginStore; keys: string[]; dir: string }> {
  const dir = await tempDir('pb-store-');
  dirs.push(dir);
  const store = await PluginStore.open(dir, maxBytes);
  const keys: string[] = [];
  for (const [i, size] of sizes.entries()) {
    const bytes = Buffer.alloc(size, i + 1);
    const digest = digestOf(bytes);
    await store.writeBlob(digest, size, Readable.from([bytes]), 'blob');
    const key = digest.slice(7);
    await store.materialize(key, { top: digest, platform: null, documents: [], files: [{ path: 'liba.so', digest }] });
    const t = new Date(Date.now() - (sizes.length - i) * 60_000);
    await utimes(store.setPath(key), t, t);
    keys.push(key);
  }
  return { store, keys, dir };
}

describe('the content-addressed plugin store', () => {
  it('collects the least recently used sets above its budget, never a kept one, and their blobs', async () => {
    const { store, keys, dir } = await storeWithSets(2500, [1000, 1000, 1000]);
    expect(await store.collect([keys[0]!])).toEqual([keys[1]]);
    expect((await readdir(join(dir, 'sets'))).sort()).toEqual([keys[0], keys[2]].sort());
    expect((await readdir(join(dir, 'blobs', 'sha256'))).sort()).toEqual([keys[0], keys[2]].sort());
    await store.close();
  });

  it('one process at a time: a live holder refuses, a dead one is taken over; a killed pull leaves nothing used', async () => {
    const dir = await tempDir('pb-store-');
    dirs.push(dir);
    const first = await PluginStore.open(dir, 1 << 20);
    await expect(PluginStore.open(dir, 1 << 20)).rejects.toMatchObject({ code: 'STORE_LOCKED' });
    await first.close();
    await writeFile(join(dir, 'lock'), JSON.stringify({ host: (await import('node:os')).hostname(), pid: 2 ** 22 + 7, start: '1' }));
    await mkdir(join(dir, 'tmp', 'set-half'), { recursive: true });
    const second = await PluginStore.open(dir, 1 << 20);
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
    await second.close();
  });

  it('a stored blob altered on disk is not read back as valid', async () => {
    const dir = await tempDir('pb-store-');
    dirs.push(dir);
    const store = await PluginStore.open(dir, 1 << 20);
    const bytes = Buffer.from('{"a":1}');
    await store.writeDocument(digestOf(bytes), bytes);
    expect(await store.readChecked(digestOf(bytes), 100)).toEqual(bytes);
    await rm(store.blobPath(digestOf(bytes)));
    await writeFile(store.blobPath(digestOf(bytes)), '{"a":2}');
    expect(await store.readChecked(digestOf(bytes), 100)).toBeNull();
    await store.close();
  });
});
