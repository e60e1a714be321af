import { spawn } from 'node:child_process';
import { mkdir, readFile, readdir, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { Readable } from 'node:stream';
import { join, resolve } from 'node:path';
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
    await writeFile(join(dir, 'lock'), JSON.stringify({ host: (await import('node:os')).hostname(), pid: 2 ** 22 + 7, start: '1', since: 'then' }));
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

  it('eight processes meeting a stale lock at the same instant: never two holders at once', async () => {
    const dir = await tempDir('pb-store-');
    dirs.push(dir);
    await writeFile(join(dir, 'lock'), JSON.stringify({ host: hostname(), pid: 2 ** 22 + 9, start: '1', since: 'then' }));
    const log = join(dir, 'log');
    await writeFile(log, '');
    const startAt = Date.now() + 2000;
    const worker = resolve(import.meta.dirname, '../../helpers/store-worker.ts');
    await Promise.all(
      Array.from({ length: 8 }, () => new Promise<void>((done, fail) => {
        const child = spawn(process.execPath, ['--import', 'tsx', worker, join(dir, 'store'), log, String(startAt)], { stdio: 'inherit' });
        child.on('exit', (code) => (code === 0 ? done() : fail(new Error(`worker exited ${code}`))));
      })),
    );
    const lines = (await readFile(log, 'utf8')).split('\n').filter((l) => l.startsWith('enter') || l.startsWith('leave'));
    expect(lines.length).toBeGreaterThan(0);
    for (let i = 0; i < lines.length; i += 2) {
      expect(lines[i]).toMatch(/^enter \d+$/);
      expect(lines[i + 1]).toBe(lines[i]!.replace('enter', 'leave'));
    }
  }, 60_000);

  it('a store whose tmp/ (or sets/) is a link to elsewhere is refused, and the elsewhere untouched', async () => {
    const dir = await tempDir('pb-store-');
    const victim = await tempDir('pb-victim-');
    dirs.push(dir, victim);
    await writeFile(join(victim, 'precious'), 'keep me');
    await symlink(victim, join(dir, 'tmp'));
    await expect(PluginStore.open(dir, 1 << 20)).rejects.toMatchObject({ code: 'WRITE_FAILED', message: expect.stringContaining('not a directory') });
    expect(await readdir(victim)).toEqual(['precious']);
  });

  it('a link planted where a set would be laid out is removed, and the set laid out', async () => {
    const { store, keys } = await storeWithSets(1 << 20, [10]);
    const path = store.setPath(keys[0]!);
    await rm(path, { recursive: true, force: true });
    const victim = await tempDir('pb-victim-');
    dirs.push(victim);
    await symlink(victim, path);
    expect(await store.existingSet(keys[0]!)).toBeNull();
    await store.materialize(keys[0]!, { top: `sha256:${keys[0]}`, platform: null, documents: [], files: [{ path: 'liba.so', digest: `sha256:${keys[0]}` }] });
    expect(await readdir(path)).toEqual(['.set.json', 'liba.so']);
    expect(await readdir(victim)).toEqual([]);
    await store.close();
  });

  it('a stored blob altered in place (same size) is not taken as stored: it is removed to be fetched again', async () => {
    const { store, keys } = await storeWithSets(1 << 20, [100]);
    const digest = `sha256:${keys[0]}`;
    expect(await store.hasBlob(digest, 100)).toBe(true);
    await writeFile(store.blobPath(digest), Buffer.alloc(100, 9));
    expect(await store.hasBlob(digest, 100)).toBe(false);
    await store.close();
  });
});
