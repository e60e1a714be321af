import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { legacySubdirectories, parseLdSoHelp } from '../../../src/verify/loader-cpu-view.js';

// The tail of `ld.so --help` as glibc 2.36 (bookworm) and 2.41 (trixie) print it on an AMD CPU with AVX-512.
const GLIBC_236 = `Usage: ld.so [OPTION]... EXECUTABLE-FILE [ARGS-FOR-PROGRAM...]
Subdirectories of glibc-hwcaps directories, in priority order:
  x86-64-v4 (supported, searched)
  x86-64-v3 (supported, searched)
  x86-64-v2 (supported, searched)

Legacy HWCAP subdirectories under library search path directories:
  x86_64 (AT_PLATFORM; supported, searched)
  tls (supported, searched)
  avx512_1
  x86_64 (supported, searched)
`;
const GLIBC_241 = `Subdirectories of glibc-hwcaps directories, in priority order:
  x86-64-v4
  x86-64-v3 (supported, searched)
  x86-64-v2 (supported, searched)
`;

describe("the CPU as the host's loader reports it", () => {
  it('reads the searched glibc-hwcaps levels, the x86 ISA bits, and (2.36) the legacy subdirectories', () => {
    expect(parseLdSoHelp(GLIBC_236)).toEqual({
      hwcaps: ['x86-64-v4', 'x86-64-v3', 'x86-64-v2'],
      legacy: ['tls/x86_64/x86_64', 'tls/x86_64', 'tls', 'x86_64/x86_64', 'x86_64'],
      x86IsaLevels: 1 | 2 | 4 | 8,
    });
    expect(parseLdSoHelp(GLIBC_241)).toEqual({ hwcaps: ['x86-64-v3', 'x86-64-v2'], legacy: [], x86IsaLevels: 1 | 2 | 4 });
    expect(parseLdSoHelp('ld.so (Debian GLIBC 2.31)\nUsage: ...')).toBeNull();
  });

  it("orders legacy subdirectories as glibc 2.36's _dl_important_hwcaps does (an Intel Haswell)", () => {
    expect(legacySubdirectories(['x86_64'], 'haswell')).toEqual(['tls/haswell/x86_64', 'tls/haswell', 'tls/x86_64', 'tls', 'haswell/x86_64', 'haswell', 'x86_64']);
  });

  it('fuzz: any text gives null or a view of known levels', () => {
    const line = fc.oneof(fc.string(), fc.constantFrom('Subdirectories of glibc-hwcaps directories, in priority order:', '  x86-64-v3 (supported, searched)', 'Legacy HWCAP subdirectories under library search path directories:', '  tls (supported, searched)', '  haswell (AT_PLATFORM; supported, searched)'));
    fc.assert(
      fc.property(fc.array(line, { maxLength: 40 }), (lines) => {
        const view = parseLdSoHelp(lines.join('\n'));
        if (view === null) return;
        expect(view.x86IsaLevels & 1).toBe(1);
        expect(view.legacy.length).toBeLessThanOrEqual(2 ** 12);
        for (const sub of view.legacy) expect(sub).not.toBe('');
      }),
    );
  });
});
