import { describe, expect, it } from 'vitest';
import { readElf } from '../../../src/elf/read-elf.js';
import type { FoundLibrary } from '../../../src/verify/library-search.js';
import { isMuslBuiltin } from '../../../src/verify/library-search.js';
import { builtAgainst } from '../../../src/verify/object-checks.js';
import { predictLoad } from '../../../src/verify/predict-load.js';
import { buildElf } from '../elf/build-elf.js';

const GLIBC_236 = { os: { id: 'debian', versionId: '12' }, arch: 'x86_64', libc: { family: 'glibc' as const, version: '2.36' } };

function lookup(libs: Record<string, { versionDefinitions?: string[]; exports?: string[]; versionSymbols?: boolean }>) {
  return {
    async find(name: string): Promise<FoundLibrary | null> {
      const lib = libs[name];
      if (!lib) return null;
      const facts = readElf(buildElf({ soname: name }));
      return { name, path: `/lib/x86_64-linux-gnu/${name}`, via: 'ld.so.cache', facts: {
          ...facts,
          versionDefinitions: lib.versionDefinitions ?? [],
          hasVersionDefinitions: lib.versionDefinitions !== undefined,
          hasVersionSymbols: lib.versionSymbols ?? lib.versionDefinitions !== undefined,
          // Defined at the base version when the library has symbol versions (any versioned reference binds there).
          definitions: (lib.exports ?? []).map((symbol) => ({ symbol, versionIndex: (lib.versionSymbols ?? lib.versionDefinitions !== undefined) ? 1 : null, version: null, hidden: false, type: 2, binding: 1, visibility: 0, zeroValue: false, absolute: false })),
        } };
    },
  };
}

describe('predictLoad (with fake host libraries)', () => {
  const strl = readElf(buildElf({ needed: ['libc.so.6'], imports: [{ symbol: 'strlcpy', version: 'GLIBC_2.38', library: 'libc.so.6' }] }));

  it('a required version the host libc lacks is a symbol-version problem naming the symbol', async () => {
    const problems = await predictLoad(strl, { fingerprint: GLIBC_236, libraries: lookup({ 'libc.so.6': { versionDefinitions: ['GLIBC_2.2.5', 'GLIBC_2.36'], exports: ['strlen'] } }) });
    expect(problems.map((p) => p.check)).toEqual(['symbol-version']);
    expect(problems[0]?.message).toContain('strlcpy needs GLIBC_2.38 from libc.so.6');
    expect(problems[0]?.message).toContain('provides up to GLIBC_2.36');
  });

  it('names the highest numbered version (not GLIBC_PRIVATE), and labels only the C library with the glibc version', async () => {
    const libc = lookup({ 'libc.so.6': { versionDefinitions: ['GLIBC_2.2.5', 'GLIBC_2.36', 'GLIBC_2.4', 'GLIBC_PRIVATE'] } });
    const [problem] = await predictLoad(strl, { fingerprint: GLIBC_236, libraries: libc });
    expect(problem?.message).toContain('libc.so.6 (glibc 2.36) provides up to GLIBC_2.36');
    const cxx = readElf(buildElf({ needed: ['libstdc++.so.6'], imports: [{ symbol: '_ZNSt7__cxx1112basic_stringIcSt11char_traitsIcESaIcEE10_M_replaceEmmPKcm', version: 'GLIBCXX_3.4.32', library: 'libstdc++.so.6' }] }));
    const [cxxProblem] = await predictLoad(cxx, { fingerprint: GLIBC_236, libraries: lookup({ 'libstdc++.so.6': { versionDefinitions: ['GLIBCXX_3.4', 'GLIBCXX_3.4.30', 'CXXABI_1.3.13'] } }) });
    expect(cxxProblem?.message).toMatch(/but this host's \/lib\/x86_64-linux-gnu\/libstdc\+\+\.so\.6 provides up to GLIBCXX_3\.4\.30$/);
  });

  it('loads when versions and symbols are there; a missing library names its package', async () => {
    const ok = await predictLoad(strl, { fingerprint: GLIBC_236, libraries: lookup({ 'libc.so.6': { versionDefinitions: ['GLIBC_2.38'], exports: ['strlcpy'] } }) });
    expect(ok).toEqual([]);
    const zlib = readElf(buildElf({ needed: ['libz.so.1', 'libc.so.6'] }));
    const missing = await predictLoad(zlib, { fingerprint: GLIBC_236, libraries: lookup({ 'libc.so.6': {} }) });
    expect(missing).toEqual([
      {
        check: 'missing-library',
        message: 'needs libz.so.1, which the loader does not find (it would say "libz.so.1: cannot open shared object file: No such file or directory")',
        fix: 'apt-get install zlib1g in the host image',
      },
    ]);
  });

  it('a versioned reference bound to a library without any symbol versions crashes the process (check_match assertion)', async () => {
    const plugin = readElf(buildElf({ needed: ['libnov.so.1'], imports: [{ symbol: 'nov_value', version: 'NOV_1', library: 'libnov.so.1' }] }));
    const crash = await predictLoad(plugin, { fingerprint: GLIBC_236, libraries: lookup({ 'libnov.so.1': { exports: ['nov_value'] } }) });
    expect(crash.map((p) => p.check)).toEqual(['crash']);
    expect(crash[0]?.message).toContain('nov_value@NOV_1 is a versioned reference to /lib/x86_64-linux-gnu/libnov.so.1, which has no symbol versions');
    // glibc 2.41 removed that assertion (bdaf500353): the reference simply binds.
    const glibc241 = { ...GLIBC_236, libc: { family: 'glibc' as const, version: '2.41' } };
    expect(await predictLoad(plugin, { fingerprint: glibc241, libraries: lookup({ 'libnov.so.1': { exports: ['nov_value'] } }) })).toEqual([]);
    // Version symbols but no definitions: dl-version.c accepts it and the lookup does not assert.
    expect(await predictLoad(plugin, { fingerprint: GLIBC_236, libraries: lookup({ 'libnov.so.1': { exports: ['nov_value'], versionSymbols: true } }) })).toEqual([]);
    // Version definitions without NOV_1: the loader's "version `NOV_1' not found".
    const missing = await predictLoad(plugin, { fingerprint: GLIBC_236, libraries: lookup({ 'libnov.so.1': { exports: ['nov_value'], versionDefinitions: ['NOV_0'] } }) });
    expect(missing.map((p) => p.check)).toEqual(['symbol-version']);
  });

  it('knows musl answers glibc library names itself, and which libc an object was built against', () => {
    expect(['libc.so', 'libc.so.6', 'libm.so.6', 'libpthread.so.0', 'libdl.so.2', 'ld-musl-x86_64.so.1'].every(isMuslBuiltin)).toBe(true);
    expect(isMuslBuiltin('libz.so.1')).toBe(false);
    expect(isMuslBuiltin('libcrypt.so.1')).toBe(false);
    expect(builtAgainst(readElf(buildElf({ needed: ['libc.so'] })))).toBe('musl');
    expect(builtAgainst(strl)).toBe('glibc');
  });
});
