import fc from 'fast-check';
import { Readable } from 'node:stream';
import * as tarStream from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { CacheArchiveError, cacheEntryProblem, filterCacheArchive, isCacheData } from '../../../src/building/compiler-cache-archive.js';
import { compilerCacheRef } from '../../../src/building/compiler-cache.js';

type EntryType = 'file' | 'directory' | 'symlink' | 'link' | 'fifo' | 'character-device' | 'block-device';
type Entry = { name: string; type?: EntryType; data?: Buffer | string; mode?: number; linkname?: string };

function tar(entries: Entry[]): Readable {
  const pack = tarStream.pack();
  for (const e of entries) {
    const type = e.type ?? 'file';
    if (type === 'file') pack.entry({ name: e.name, type, mode: e.mode ?? 0o644, uid: 1000, gid: 1000 }, e.data ?? 'x');
    else pack.entry({ name: e.name, type, mode: e.mode ?? 0o755, ...(e.linkname !== undefined ? { linkname: e.linkname } : {}) });
  }
  pack.finalize();
  return pack as unknown as Readable;
}

/** Every entry of a tar stream: header and content. */
async function entriesOf(stream: Readable): Promise<Array<{ header: tarStream.Header; data: Buffer }>> {
  const extract = tarStream.extract();
  stream.on('error', (err) => extract.destroy(err));
  stream.pipe(extract);
  const out: Array<{ header: tarStream.Header; data: Buffer }> = [];
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    out.push({ header: entry.header, data: Buffer.concat(chunks) });
  }
  return out;
}

const LIMITS = { top: 'cache', maxBytes: 1 << 20, maxEntries: 1000 };

async function filtered(entries: Entry[], limits = LIMITS) {
  const { stream, done } = filterCacheArchive(tar(entries), limits);
  const [passed, summary] = await Promise.allSettled([entriesOf(stream), done]);
  return { passed, summary };
}

describe('filterCacheArchive', () => {
  const R = '0123456789abcdefghijklmnopqrstuvR';
  const GO_A = `${'ab'.repeat(32)}-a`;

  it("passes ccache's and Go's data files as 0644 files in 0755 directories owned by root, whatever modes they came with", async () => {
    const { passed, summary } = await filtered([
      { name: 'cache/', type: 'directory' },
      { name: 'cache/ccache/', type: 'directory', mode: 0o1777 },
      { name: 'cache/ccache/a/', type: 'directory' },
      { name: 'cache/ccache/a/b/', type: 'directory' },
      { name: `cache/ccache/a/b/${R}`, data: 'OBJ', mode: 0o6777 },
      { name: 'cache/ccache/a/b/stats', data: '1 2' },
      { name: 'cache/go/README', data: 'go cache' },
      { name: 'cache/go/ab/', type: 'directory' },
      { name: `cache/go/ab/${GO_A}`, data: 'action', mode: 0o755 },
    ]);
    if (summary.status !== 'fulfilled') throw summary.reason;
    expect(summary.value).toEqual({ files: 4, bytes: 20, skipped: 0, skippedNames: [] });
    if (passed.status !== 'fulfilled') throw passed.reason;
    expect(passed.value.map((e) => [e.header.name, e.header.type, e.header.mode, e.header.uid, e.data.toString()])).toEqual([
      ['cache/', 'directory', 0o755, 0, ''],
      ['cache/ccache/', 'directory', 0o755, 0, ''],
      ['cache/ccache/a/', 'directory', 0o755, 0, ''],
      ['cache/ccache/a/b/', 'directory', 0o755, 0, ''],
      [`cache/ccache/a/b/${R}`, 'file', 0o644, 0, 'OBJ'],
      ['cache/ccache/a/b/stats', 'file', 0o644, 0, '1 2'],
      ['cache/go/README', 'file', 0o644, 0, 'go cache'],
      ['cache/go/ab/', 'directory', 0o755, 0, ''],
      [`cache/go/ab/${GO_A}`, 'file', 0o644, 0, 'action'],
    ]);
  });

  it('leaves out configuration and code: ccache.conf (prefix_command), an executable, files of shapes neither tool writes', async () => {
    const { passed, summary } = await filtered([
      { name: 'cache/ccache/', type: 'directory' },
      { name: 'cache/ccache/ccache.conf', data: 'prefix_command = /cache/ccache/evil.sh\n' },
      { name: 'cache/ccache/evil.sh', data: '#!/bin/sh\necho pwned\n', mode: 0o755 },
      { name: 'cache/ccache/a/b/x.o', data: 'OBJ' },
      { name: 'cache/ccache/a/b/libfake.so', data: 'ELF' },
      { name: 'cache/go/ab/notahash-a', data: 'x' },
      { name: 'cache/go/env', data: 'GOFLAGS=-toolexec=/cache/go/x' },
      { name: 'cache/other/', type: 'directory' },
      { name: `cache/ccache/a/b/${R}`, data: 'OBJ' },
    ]);
    if (summary.status !== 'fulfilled') throw summary.reason;
    expect(summary.value.files).toBe(1);
    expect(summary.value.skipped).toBe(7);
    expect(summary.value.skippedNames).toContain('cache/ccache/ccache.conf');
    if (passed.status !== 'fulfilled') throw passed.reason;
    expect(passed.value.map((e) => e.header.name)).toEqual(['cache/ccache/', `cache/ccache/a/b/${R}`]);
  });

  it.each<[string, Entry[], RegExp]>([
    ['a symlink out of the cache', [{ name: 'cache/', type: 'directory' }, { name: 'cache/ccache', type: 'symlink', linkname: '/out' }], /symlink entry/],
    ['a hard link', [{ name: 'cache/a', data: 'x' }, { name: 'cache/b', type: 'link', linkname: 'cache/a' }], /link entry/],
    ['a FIFO', [{ name: 'cache/fifo', type: 'fifo' }], /fifo entry/],
    ['a device', [{ name: 'cache/null', type: 'character-device' }], /character-device entry/],
    ['a ../ path', [{ name: 'cache/../etc/passwd', data: 'root::0:0' }], /path with \.\./],
    ['an absolute path', [{ name: '/cache/x', data: 'x' }], /absolute path/],
    ['another top directory', [{ name: 'src/main.c', data: 'x' }], /not inside cache\//],
    ['a file for the top directory', [{ name: 'cache', data: 'x' }], /a file where the cache\/ directory should be/],
  ])('refuses the whole archive for %s', async (_what, entries, problem) => {
    const { passed, summary } = await filtered([{ name: 'cache/ok', data: 'fine' }, ...entries]);
    expect(summary.status).toBe('rejected');
    expect(passed.status).toBe('rejected');
    const err = (summary as PromiseRejectedResult).reason;
    expect(err).toBeInstanceOf(CacheArchiveError);
    expect((err as Error).message).toMatch(problem);
  });

  it('stops past the byte and entry limits', async () => {
    const big = await filtered([{ name: `cache/go/00/${'0'.repeat(64)}-a`, data: Buffer.alloc(600) }, { name: `cache/go/00/${'1'.repeat(64)}-d`, data: Buffer.alloc(600) }], { ...LIMITS, maxBytes: 1000 });
    expect(((big.summary as PromiseRejectedResult).reason as Error).message).toMatch(/-d": more than 1000 bytes/);
    const many = await filtered(Array.from({ length: 5 }, (_, i) => ({ name: `cache/${i}`, data: 'x' })), { ...LIMITS, maxEntries: 4 });
    expect(((many.summary as PromiseRejectedResult).reason as Error).message).toMatch(/"cache\/4": more than 4 entries/);
  });

  it('errors (does not hang) on a source that fails mid-way or is not a tar', async () => {
    const broken = new Readable({ read() {} });
    const { stream, done } = filterCacheArchive(broken, LIMITS);
    const drained = entriesOf(stream);
    broken.destroy(new Error('engine connection reset'));
    await expect(done).rejects.toThrow(/engine connection reset/);
    await expect(drained).rejects.toThrow();
    const garbage = filterCacheArchive(Readable.from([Buffer.alloc(1024, 0x41)]), LIMITS);
    await expect(Promise.all([entriesOf(garbage.stream), garbage.done])).rejects.toThrow();
  });

  it('fuzz: whatever the entries, every one that passes is a directory or a regular file inside cache/, with its content intact', async () => {
    const segment = fc.constantFrom('cache', 'ccache', 'go', '..', '.', '', 'a', 'ab', 'x.o', 'src', '/', 'stats', 'ccache.conf', R, GO_A);
    const entry = fc.record({
      name: fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/')),
      type: fc.constantFrom<EntryType>('file', 'directory', 'symlink', 'link', 'fifo'),
      data: fc.string({ maxLength: 40 }),
      mode: fc.integer({ min: 0, max: 0o7777 }),
      linkname: fc.constantFrom('/etc/passwd', 'cache/a', '../..'),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { maxLength: 8 }), async (entries) => {
        const usable = entries.filter((e) => e.name !== '');
        // The rules apply to the headers as a reader sees them (tar-stream's round trip).
        const seen = await entriesOf(tar(usable));
        const hasProblem = seen.some(({ header }) => cacheEntryProblem(header, 'cache') !== null);
        const { passed, summary } = await filtered(usable);
        expect(summary.status).toBe(hasProblem ? 'rejected' : 'fulfilled');
        if (summary.status === 'rejected') {
          expect(summary.reason).toBeInstanceOf(CacheArchiveError);
          return;
        }
        if (passed.status !== 'fulfilled') throw passed.reason;
        for (const { header, data } of passed.value) {
          expect(['file', 'directory']).toContain(header.type);
          expect(cacheEntryProblem(header, 'cache')).toBeNull();
          expect(header.mode).toBe(header.type === 'file' ? 0o644 : 0o755);
          expect(isCacheData(header.name.split('/').filter((p) => p !== '' && p !== '.').slice(1), header.type as 'file' | 'directory')).toBe(true);
          const source = seen.find((e) => e.header.name === header.name);
          expect(data.equals(source!.data)).toBe(true);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('compilerCacheRef', () => {
  it("tags the cache with the builder's input hash", () => {
    expect(compilerCacheRef('127.0.0.1:5000/ci/cache', 'plugin-builder/builder:3f2a')).toBe('127.0.0.1:5000/ci/cache:3f2a-compiler-cache');
  });
});
