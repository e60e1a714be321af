import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RootFileSource } from '../../../src/env/file-source.js';
import { readElf } from '../../../src/elf/read-elf.js';
import { expandTokens, isFound, LibrarySearch, type Requester, type SearchSetup } from '../../../src/verify/library-search.js';

const work = mkdtempSync(join(tmpdir(), 'pb-search-'));
writeFileSync(join(work, 'v.c'), 'int v(void) { return 1; }\n');

/** A real shared object from this machine's gcc, with the given link flags. */
function lib(name: string, flags: string[] = []): Buffer {
  const out = join(work, name);
  execFileSync('gcc', ['-shared', '-fPIC', '-o', out, join(work, 'v.c'), `-Wl,-soname,${name}`, ...flags]);
  return readFileSync(out);
}

const LIBV = lib('libv.so.1');

/** An image's root as a map of paths to bytes; ld.so.cache written by the real ldconfig. */
function root(files: Record<string, Buffer | string>, cacheDirs: string[] = []): RootFileSource {
  const map = new Map(Object.entries(files).map(([k, v]) => [k, Buffer.from(v)]));
  if (cacheDirs.length > 0) {
    // ldconfig -r builds the cache of a real directory tree: lay the files out and ask it.
    const tree = mkdtempSync(join(tmpdir(), 'pb-root-'));
    for (const [path, bytes] of map) {
      execFileSync('mkdir', ['-p', join(tree, path, '..')]);
      writeFileSync(join(tree, path), bytes);
    }
    execFileSync('mkdir', ['-p', join(tree, 'etc')]);
    writeFileSync(join(tree, 'etc/ld.so.conf'), cacheDirs.join('\n') + '\n');
    execFileSync('ldconfig', ['-r', tree, '-X']);
    map.set('/etc/ld.so.cache', readFileSync(join(tree, 'etc/ld.so.cache')));
  }
  return { readFile: async (path) => map.get(path) ?? null };
}

const glibc = (overrides: Partial<SearchSetup> = {}): SearchSetup => ({
  family: 'glibc',
  arch: 'x86_64',
  multiarch: 'x86_64-linux-gnu',
  ldLibraryPath: null,
  program: null,
  want: { class: 64, machine: 'x86_64' },
  ...overrides,
});

const requester = (flags: string[], origin: string | null = '/app/plugins'): Requester => ({ facts: readElf(lib(`libreq${flags.length}${Math.random().toString(16).slice(2, 6)}.so`, flags)), origin });

describe('LibrarySearch (glibc)', () => {
  it('finds a library registered in ld.so.cache outside the default directories (/opt/vendor/lib + ldconfig)', async () => {
    const search = new LibrarySearch(root({ '/opt/vendor/lib/libv.so.1': LIBV }, ['/opt/vendor/lib']), glibc());
    const found = await search.find('libv.so.1', null);
    expect(isFound(found) && [found.path, found.via]).toEqual(['/opt/vendor/lib/libv.so.1', 'ld.so.cache']);
  });

  it('does not find a library copied into /usr/local/lib without ldconfig (not in the cache, not a default directory)', async () => {
    const search = new LibrarySearch(root({ '/usr/local/lib/libv.so.1': LIBV, '/lib/x86_64-linux-gnu/libz.so.1': lib('libz.so.1') }, ['/lib/x86_64-linux-gnu']), glibc());
    expect(await search.find('libv.so.1', null)).toBeNull();
    const z = await search.find('libz.so.1', null);
    expect(isFound(z) && z.via).toBe('ld.so.cache');
  });

  it('finds a library in a default directory even without a cache', async () => {
    const search = new LibrarySearch(root({ '/usr/lib/x86_64-linux-gnu/libv.so.1': LIBV }), glibc());
    const found = await search.find('libv.so.1', null);
    expect(isFound(found) && found.via).toBe('default directories');
  });

  it('DT_RUNPATH with $ORIGIN; DT_RPATH is ignored when DT_RUNPATH is present', async () => {
    const files = root({ '/app/plugins/deps/libv.so.1': LIBV, '/opt/old/libv.so.1': LIBV });
    const withRunpath = new LibrarySearch(files, glibc());
    const found = await withRunpath.find('libv.so.1', requester(['-Wl,--enable-new-dtags,-rpath,$ORIGIN/deps']));
    expect(isFound(found) && [found.path, found.via]).toEqual(['/app/plugins/deps/libv.so.1', 'DT_RUNPATH']);
    // Loaded from a sealed copy (/proc/self/fd/N), $ORIGIN names nothing useful: not found.
    expect(await withRunpath.find('libv.so.1', requester(['-Wl,--enable-new-dtags,-rpath,$ORIGIN/deps'], null))).toBeNull();
    const rpath = await withRunpath.find('libv.so.1', requester(['-Wl,--disable-new-dtags,-rpath,/opt/old']));
    expect(isFound(rpath) && rpath.via).toBe('DT_RPATH');
  });

  it('order: DT_RPATH before LD_LIBRARY_PATH before DT_RUNPATH before the cache', async () => {
    const other = lib('libv.so.1', ['-Wl,-z,now']);
    const files = root({ '/rp/libv.so.1': LIBV, '/env/libv.so.1': other, '/run/libv.so.1': LIBV, '/cached/libv.so.1': LIBV }, ['/cached']);
    const search = new LibrarySearch(files, glibc({ ldLibraryPath: '/env' }));
    const viaEnv = await search.find('libv.so.1', requester(['-Wl,--enable-new-dtags,-rpath,/run']));
    expect(isFound(viaEnv) && viaEnv.path).toBe('/env/libv.so.1');
    const viaRpath = await search.find('libv.so.1', requester(['-Wl,--disable-new-dtags,-rpath,/rp']));
    expect(isFound(viaRpath) && viaRpath.path).toBe('/rp/libv.so.1');
  });

  it('a file that is not ELF ends the search with the loader\'s error; it does not fall through', async () => {
    const search = new LibrarySearch(root({ '/env/libv.so.1': 'not an ELF object, but long enough to have an ELF header of sixty-four bytes...', '/usr/lib/libv.so.1': LIBV }), glibc({ ldLibraryPath: '/env' }));
    expect(await search.find('libv.so.1', null)).toEqual({ name: 'libv.so.1', path: '/env/libv.so.1', error: 'invalid ELF header' });
  });

  it('expands $LIB and $PLATFORM like a Debian glibc, drops a path whose $ORIGIN is unknown', () => {
    const setup = glibc();
    expect(expandTokens('/opt/$LIB/x', '/a', setup)).toBe('/opt/lib/x86_64-linux-gnu/x');
    expect(expandTokens('${ORIGIN}/../${PLATFORM}', '/a/b', setup)).toBe('/a/b/../x86_64');
    expect(expandTokens('$ORIGIN/x', null, setup)).toBeNull();
    expect(expandTokens('$ORIGINAL/x', '/a', setup)).toBe('$ORIGINAL/x');
  });
});

describe('LibrarySearch (musl)', () => {
  const musl = (overrides: Partial<SearchSetup> = {}) => glibc({ family: 'musl', multiarch: null, ...overrides });

  it('searches /etc/ld-musl-ARCH.path when present — an empty one means no directories — else /lib:/usr/local/lib:/usr/lib', async () => {
    expect(isFound(await new LibrarySearch(root({ '/usr/local/lib/libv.so.1': LIBV }), musl()).find('libv.so.1', null))).toBe(true);
    const listed = new LibrarySearch(root({ '/etc/ld-musl-x86_64.path': '/opt/v\n', '/opt/v/libv.so.1': LIBV, '/lib/libw.so.1': LIBV }), musl());
    expect(isFound(await listed.find('libv.so.1', null))).toBe(true);
    expect(await listed.find('libw.so.1', null)).toBeNull();
    const empty = new LibrarySearch(root({ '/etc/ld-musl-x86_64.path': '', '/lib/libv.so.1': LIBV }), musl());
    expect(await empty.find('libv.so.1', null)).toBeNull();
  });

  it('LD_LIBRARY_PATH comes before the rpath, and DT_RUNPATH and DT_RPATH are the same thing', async () => {
    const files = root({ '/env/libv.so.1': LIBV, '/run/libv.so.1': LIBV });
    const search = new LibrarySearch(files, musl({ ldLibraryPath: '/env' }));
    const found = await search.find('libv.so.1', requester(['-Wl,--disable-new-dtags,-rpath,/run']));
    expect(isFound(found) && found.path).toBe('/env/libv.so.1');
    const noEnv = new LibrarySearch(files, musl());
    const viaRpath = await noEnv.find('libv.so.1', requester(['-Wl,--disable-new-dtags,-rpath,/run']));
    expect(isFound(viaRpath) && viaRpath.path).toBe('/run/libv.so.1');
  });
});
