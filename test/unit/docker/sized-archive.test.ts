import { execFileSync, spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { appendFile, mkdir, mkdtemp, open, rm, symlink, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import * as tarStream from 'tar-stream';
import { afterEach, describe, expect, it } from 'vitest';
import { SourceChangedError, sizedArchive } from '../../../src/docker/sized-archive.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function tree(files: Record<string, Buffer | string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pb-sized-'));
  dirs.push(dir);
  for (const [name, data] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), data);
  }
  return dir;
}

async function bytesOf(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function entries(archive: Buffer): Promise<Array<{ name: string; data: string; mtime: number; uid: number; mode: number }>> {
  const extract = tarStream.extract();
  const out: Array<{ name: string; data: string; mtime: number; uid: number; mode: number }> = [];
  extract.end(archive);
  for await (const entry of extract) {
    out.push({ name: entry.header.name, data: (await bytesOf(entry as unknown as Readable)).toString('latin1'), mtime: entry.header.mtime?.getTime() ?? -1, uid: entry.header.uid ?? -1, mode: entry.header.mode ?? -1 });
  }
  return out;
}

// Names a tar header holds in different ways: plain, split into ustar's prefix (long paths), a
// pax record (a component over 100 bytes, non-ASCII), and sizes around the 512-byte block.
const NAME = fc.oneof(
  fc.stringMatching(/^[a-z0-9_.-]{1,12}$/),
  fc.constant('x'.repeat(120)),
  fc.constant('ü-ñ-é.c'),
  fc.constant('日本語.h'),
).filter((n) => n !== '.' && n !== '..');
const PATH = fc.array(NAME, { minLength: 1, maxLength: 12 }).map((parts) => parts.join('/'));
const SIZE = fc.oneof(fc.constantFrom(0, 1, 511, 512, 513, 1024, 10_240), fc.nat({ max: 5_000 }));

describe('sizedArchive', () => {
  it('fuzz: the measured length is the archive\'s length, and GNU tar reads the same files back', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(fc.tuple(PATH, SIZE), { minLength: 1, maxLength: 8, selector: ([p]) => p }), async (specs) => {
        // A path may not be both a file and a directory.
        const paths = specs.map(([p]) => p);
        if (paths.some((p) => paths.some((q) => q.startsWith(`${p}/`)))) return;
        const files = Object.fromEntries(specs.map(([p, size], i) => [p, Buffer.alloc(size, 65 + (i % 26))]));
        const dir = await tree(files);
        const archive = await sizedArchive(dir, paths, 'src');
        const data = await bytesOf(archive.stream());
        expect(data.length).toBe(archive.bytes);
        expect(data.length % 512).toBe(0);
        const listed = spawnSync('tar', ['-t', '-f', '-'], { input: data, encoding: 'utf8' });
        expect(listed.status, listed.stderr).toBe(0);
        expect(listed.stdout.trim().split('\n').sort()).toEqual(paths.map((p) => `src/${p}`).sort());
        const read = await entries(data);
        for (const [p, content] of Object.entries(files)) expect(read.find((e) => e.name === `src/${p}`)?.data).toBe(content.toString('latin1'));
        // Owner and mtime normalised: what goes into a build does not depend on the checkout.
        expect(read.every((e) => e.mtime === 0 && e.uid === 0)).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('keeps the mode bits (an executable build script stays executable)', async () => {
    const dir = await tree({ 'gen.sh': '#!/bin/sh\n', 'a.c': 'int a;' });
    execFileSync('chmod', ['0755', join(dir, 'gen.sh')]);
    execFileSync('chmod', ['0640', join(dir, 'a.c')]);
    const read = await entries(await bytesOf((await sizedArchive(dir, ['a.c', 'gen.sh'])).stream()));
    expect(read.map((e) => [e.name, e.mode & 0o7777])).toEqual([['a.c', 0o640], ['gen.sh', 0o755]]);
  });

  it.each<[string, (path: string) => Promise<void>, RegExp]>([
    ['swapped for a symlink', async (p) => {
      await unlink(p);
      await symlink('/etc/passwd', p);
    }, /now a symbolic link/],
    ['swapped for a FIFO (never read: it would block)', async (p) => {
      await unlink(p);
      execFileSync('mkfifo', [p]);
    }, /no longer a regular file/],
    ['grown', async (p) => writeFile(p, 'int a; int b;'), /size went from 6 to 13 bytes/],
    ['removed', async (p) => unlink(p), /it is gone/],
  ])('a source %s after it was measured stops the archive with SOURCE_CHANGED, naming it', async (_what, change, message) => {
    const dir = await tree({ 'a.c': 'int a;', 'b.c': 'int b;' });
    const archive = await sizedArchive(dir, ['a.c', 'b.c']);
    await change(join(dir, 'b.c'));
    const error = await bytesOf(archive.stream()).then(() => null, (err: unknown) => err);
    expect(error).toBeInstanceOf(SourceChangedError);
    expect((error as Error).message).toContain(join(dir, 'b.c'));
    expect((error as Error).message).toMatch(message);
  });

  it.each<[string, (path: string) => Promise<void>, RegExp]>([
    ['rewritten in place (same size)', async (p) => {
      const handle = await open(p, 'r+');
      await handle.write(Buffer.alloc(4096, 66), 0, 4096, 0);
      await handle.close();
    }, /written to while it was read/],
    ['grown', async (p) => appendFile(p, 'more'), /written to while it was read/],
    ['truncated', async (p) => truncate(p, 1000), /shrank while it was read/],
  ])('a source %s while it is being read stops the archive with SOURCE_CHANGED, and no more than its measured size is sent', async (_what, change, message) => {
    const size = 16 * 1024 * 1024;
    const dir = await tree({ 'big.bin': Buffer.alloc(size, 65) });
    const archive = await sizedArchive(dir, ['big.bin']);
    const stream = archive.stream();
    let seen = 0;
    let changed = false;
    const error = await new Promise<unknown>((resolve) => {
      stream.on('data', (chunk: Buffer) => {
        seen += chunk.length;
        if (!changed) {
          changed = true;
          stream.pause();
          change(join(dir, 'big.bin')).then(() => stream.resume(), resolve);
        }
      });
      stream.on('error', resolve);
      stream.on('end', () => resolve(null));
    });
    expect(error).toBeInstanceOf(SourceChangedError);
    expect((error as Error).message).toMatch(message);
    expect(seen).toBeLessThanOrEqual(archive.bytes);
  });

  it('refuses what is not a regular file when measuring, and is read once', async () => {
    const dir = await tree({ 'a.c': 'int a;' });
    await symlink('a.c', join(dir, 'link.c'));
    await expect(sizedArchive(dir, ['link.c'])).rejects.toBeInstanceOf(SourceChangedError);
    const archive = await sizedArchive(dir, ['a.c']);
    await bytesOf(archive.stream());
    expect(() => archive.stream()).toThrow(/read once/);
  });
});
