import { describe, expect, it } from 'vitest';
import { relocationName, relocationRefusal, unsupportedRelocations } from '../../../src/verify/relocation-tables.js';

describe("each loader's relocation table (musl arch/*/reloc.h, glibc sysdeps/*/dl-machine.h)", () => {
  it('musl has no IFUNC: IRELATIVE is refused on x86_64 and aarch64; glibc applies it', () => {
    expect(unsupportedRelocations('musl', 'x86_64', [6, 7, 8, 37])).toEqual([37]);
    expect(unsupportedRelocations('glibc', 'x86_64', [6, 7, 8, 37])).toEqual([]);
    expect(unsupportedRelocations('musl', 'aarch64', [1025, 1026, 1027, 1032])).toEqual([1032]);
    expect(unsupportedRelocations('glibc', 'aarch64', [1025, 1026, 1027, 1032])).toEqual([]);
    expect(relocationName('x86_64', 37)).toBe('R_X86_64_IRELATIVE');
    expect(relocationName('x86_64', 1)).toBe('R_X86_64_64');
    expect(relocationName('aarch64', 1032)).toBe('R_AARCH64_IRELATIVE');
  });

  it('TLS descriptors and the usual GOT/PLT/RELATIVE types load on both; a type no loader knows is refused by both', () => {
    expect(unsupportedRelocations('musl', 'x86_64', [0, 1, 2, 5, 16, 17, 18, 36])).toEqual([]);
    expect(unsupportedRelocations('glibc', 'x86_64', [42])).toEqual([42]);
    expect(unsupportedRelocations('musl', 'riscv64', [1])).toBeNull();
  });

  it("says it in the loader's own words", () => {
    expect(relocationRefusal('musl', '/app/plugins/libp.so', 37)).toBe('Error relocating /app/plugins/libp.so: unsupported relocation type 37');
    expect(relocationRefusal('glibc', '/app/plugins/libp.so', 42)).toBe('/app/plugins/libp.so: unexpected reloc type 0x2a');
  });
});

describe('what a process maps before main: its preloads', () => {
  it('LD_PRELOAD (spaces, tabs, newlines or colons) then /etc/ld.so.preload on glibc; musl has no preload file', async () => {
    const { preloadNames } = await import('../../../src/verify/loading-program.js');
    const { followingSymlinks } = await import('../../../src/env/file-source.js');
    const { memoryRoot } = await import('../../helpers/fake-root.js');
    const files = followingSymlinks(memoryRoot({ '/etc/ld.so.preload': '/lib/libx.so\tliby.so\n# /lib/libcommented.so\n' }));
    expect(await preloadNames(files, ['LD_PRELOAD=liba.so:libb.so  /opt/libc.so'], 'glibc')).toEqual(['liba.so', 'libb.so', '/opt/libc.so', '/lib/libx.so', 'liby.so']);
    expect(await preloadNames(files, ['LD_PRELOAD=liba.so\tlibb.so'], 'musl')).toEqual(['liba.so', 'libb.so']);
    // glibc's LD_PRELOAD takes spaces and ':' only: a tab is part of the name.
    expect(await preloadNames(followingSymlinks(memoryRoot({})), ['LD_PRELOAD=liba.so\tlibb.so'], 'glibc')).toEqual(['liba.so\tlibb.so']);
    expect(await preloadNames(files, [], 'musl')).toEqual([]);
  });
});
