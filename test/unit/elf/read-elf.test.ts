import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseGoBuildInfo } from '../../../src/elf/go-buildinfo.js';
import { goFunctionFile } from '../../../src/elf/go-pclntab.js';
import { ElfFormatError, readElf } from '../../../src/elf/read-elf.js';
import { compareVersions, glibcRequirement } from '../../../src/elf/versions.js';
import { buildElf, goBuildInfoSection } from './build-elf.js';

const LIBZ = readFileSync('/usr/lib/x86_64-linux-gnu/libz.so.1');
const LIBC = readFileSync('/lib/x86_64-linux-gnu/libc.so.6');

/** readElf may answer or throw ElfFormatError, nothing else. */
function safely(bytes: Uint8Array): void {
  try {
    readElf(bytes);
  } catch (err) {
    if (!(err instanceof ElfFormatError)) throw err;
  }
}

describe('readElf on real Debian libraries', () => {
  it('libc.so.6 defines the GLIBC versions', () => {
    const libc = readElf(LIBC);
    expect(libc).toMatchObject({ class: 64, machine: 'x86_64', type: 'dyn', soname: 'libc.so.6' });
    expect(libc.versionDefinitions).toEqual(expect.arrayContaining(['GLIBC_2.2.5', 'GLIBC_2.34']));
    expect(libc.definitions.map((d) => d.symbol)).toEqual(expect.arrayContaining(['printf', 'strlen']));
  });

  it('libz.so.1 needs libc.so.6 with versioned imports', () => {
    const libz = readElf(LIBZ);
    expect(libz.soname).toBe('libz.so.1');
    expect(libz.needed).toContain('libc.so.6');
    expect(libz.versionedImports.length).toBeGreaterThan(0);
    expect(libz.versionedImports.every((i) => i.library === 'libc.so.6' && i.version.startsWith('GLIBC_'))).toBe(true);
    expect(libz.definitions.map((d) => d.symbol)).toContain('crc32');
  });

  it('/bin/ls has the x86_64 loader as interpreter', () => {
    const ls = readElf(readFileSync('/bin/ls'));
    expect(ls.interpreter).toBe('/lib64/ld-linux-x86-64.so.2');
    expect(ls.needed).toContain('libc.so.6');
  });
});

describe('readElf on constructed objects', () => {
  it('finds a GLIBC_2.38 import and its symbol', () => {
    const facts = readElf(buildElf({ needed: ['libc.so.6'], soname: 'libx.so', imports: [{ symbol: 'strlcpy', version: 'GLIBC_2.38', library: 'libc.so.6' }, { symbol: 'puts', version: 'GLIBC_2.2.5', library: 'libc.so.6' }] }));
    expect(facts.soname).toBe('libx.so');
    expect(facts.needed).toEqual(['libc.so.6']);
    expect(facts.versionNeeds).toEqual([{ library: 'libc.so.6', versions: ['GLIBC_2.38', 'GLIBC_2.2.5'] }]);
    expect(glibcRequirement(facts)).toEqual({ version: '2.38', symbols: ['strlcpy'] });
  });

  it('reads Go build info, inline and in a section', () => {
    const modinfo = ['path\texample.com/p', 'mod\texample.com/p\t(devel)\t', 'dep\texample.com/shared\tv1.0.0\t', '=>\t../shared\t(devel)\t', 'build\t-buildmode=c-shared', 'build\tCGO_ENABLED=1', 'build\t-ldflags="-X a=b"'].join('\n');
    const section = goBuildInfoSection('go1.19.8', modinfo);
    const info = parseGoBuildInfo(section);
    expect(info.goVersion).toBe('go1.19.8');
    expect(info.path).toBe('example.com/p');
    expect(info.deps).toEqual([{ path: 'example.com/shared', version: 'v1.0.0', replace: { path: '../shared', version: '(devel)' } }]);
    expect(info.settings).toEqual({ '-buildmode': 'c-shared', CGO_ENABLED: '1', '-ldflags': '-X a=b' });
    expect(readElf(buildElf({ goBuildInfo: section })).goBuildInfo).toEqual(info);
    const old = Buffer.from(section);
    old[15] = 0;
    expect(() => parseGoBuildInfo(old)).toThrow(/Go < 1.18/);
    expect(() => parseGoBuildInfo(section.subarray(0, 34))).toThrow(ElfFormatError);
  });

  it('rejects wrong magic, huge section counts and looping version chains with ElfFormatError', () => {
    expect(() => readElf(Buffer.from('MZ\x90\x00'))).toThrow(/magic/);
    const huge = Buffer.from(LIBZ.subarray(0, 64));
    huge.writeUInt16LE(0xffff, 60);
    expect(() => readElf(huge)).toThrow(ElfFormatError);
    const looping = buildElf({ needed: ['libc.so.6'], imports: [{ symbol: 'f', version: 'GLIBC_2.2.5', library: 'libc.so.6' }], badVerneedNext: true });
    expect(() => readElf(looping)).toThrow(/verneed entry 1 at offset \d+ is outside its section/);
  });
});

describe('malformed input (property-based)', () => {
  it('random bytes: an answer or ElfFormatError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 4096 }), (bytes) => safely(bytes)), { numRuns: 500 });
  });

  it('random bytes behind a valid ELF header', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 4096 }), (tail) => safely(Buffer.concat([LIBZ.subarray(0, 64), tail]))), { numRuns: 500 });
  });

  it('truncations of a real library', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: LIBZ.length }), (n) => safely(LIBZ.subarray(0, n))), { numRuns: 300 });
  });

  it('random corruptions of a real library and of a constructed one', () => {
    const built = buildElf({ needed: ['libc.so.6'], imports: [{ symbol: 'strlcpy', version: 'GLIBC_2.38', library: 'libc.so.6' }], goBuildInfo: goBuildInfoSection('go1.22.1', 'path\tx\n') });
    const corrupt = (base: Buffer) =>
      fc.property(fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 16 }), (edits) => {
        const copy = Buffer.from(base);
        for (const [at, value] of edits) copy[at] = value;
        safely(copy);
      });
    fc.assert(corrupt(LIBZ), { numRuns: 300 });
    fc.assert(corrupt(built), { numRuns: 1000 });
  });

  it('random corruptions of a library with everything the loader rules read (ISA note, TLS, TPOFF, RELR, versions)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pb-rich-'));
    writeFileSync(join(dir, 'rich.c'), '#include <stdlib.h>\nstatic __thread int t __attribute__((tls_model("initial-exec")));\nstatic int a;\nint *p[] = { &a, &a };\nint f(void) { return ++t + abs(*p[1]); }\n');
    writeFileSync(join(dir, 'rich.map'), 'R_1 { global: f; local: *; };\n');
    execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-o', join(dir, 'librich.so'), join(dir, 'rich.c'), '-Wl,-z,x86-64-v2', '-Wl,-z,pack-relative-relocs', `-Wl,--version-script=${join(dir, 'rich.map')}`]);
    const rich = readFileSync(join(dir, 'librich.so'));
    rmSync(dir, { recursive: true, force: true });
    const facts = readElf(rich);
    expect([facts.x86IsaNeeded, facts.hasRelr, facts.tls?.memsz, facts.staticTlsReferences]).toEqual([2, true, 4, [{ symbol: null }]]);
    expect(facts.definitions).toContainEqual(expect.objectContaining({ symbol: 'f', versionIndex: 2, version: 'R_1', hidden: false, binding: 1, zeroValue: false }));
    const edits = fc.array(fc.tuple(fc.nat(rich.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 });
    fc.assert(
      fc.property(edits, (list) => {
        const copy = Buffer.from(rich);
        for (const [at, value] of list) copy[at] = value;
        safely(copy);
      }),
      { numRuns: 2000 },
    );
  });

  it('Go build info: random bytes after the magic', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (tail) => {
        try {
          parseGoBuildInfo(Buffer.concat([Buffer.from('\xff Go buildinf:', 'latin1'), Buffer.from([8, 2]), Buffer.alloc(16), tail]));
        } catch (err) {
          if (!(err instanceof ElfFormatError)) throw err;
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('compareVersions', () => {
  it('compares dotted versions numerically', () => {
    expect(compareVersions('2.38', '2.36')).toBe(1);
    expect(compareVersions('2.2.5', '2.3')).toBe(-1);
    expect(compareVersions('2.10', '2.9')).toBe(1);
    expect(compareVersions('1.2', '1.2.0')).toBe(0);
  });
});

describe('readElf: search-path entries of the dynamic section', () => {
  it('reads DT_RUNPATH, DT_RPATH and DT_FLAGS_1 as gcc/ld write them', async () => {
    const { execFileSync } = await import('node:child_process');
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'pb-rpath-'));
    writeFileSync(join(dir, 'x.c'), 'int x(void) { return 1; }\n');
    const build = (name: string, flags: string[]) => {
      execFileSync('gcc', ['-shared', '-fPIC', '-o', join(dir, name), join(dir, 'x.c'), ...flags]);
      return readElf(readFileSync(join(dir, name)));
    };
    const runpath = build('librun.so', ['-Wl,--enable-new-dtags,-rpath,$ORIGIN/../lib:/opt/vendor/lib']);
    expect([runpath.runpath, runpath.rpath]).toEqual(['$ORIGIN/../lib:/opt/vendor/lib', null]);
    const rpath = build('librpath.so', ['-Wl,--disable-new-dtags,-rpath,/opt/old']);
    expect([rpath.runpath, rpath.rpath]).toEqual([null, '/opt/old']);
    // GNU ld ignores -z nodeflib ("warning: -z nodeflib ignored"); DT_FLAGS_1 is read from a PIE (DF_1_PIE).
    writeFileSync(join(dir, 'main.c'), 'int main(void) { return 0; }\n');
    execFileSync('gcc', ['-pie', '-fPIE', '-o', join(dir, 'main'), join(dir, 'main.c')]);
    expect(readElf(readFileSync(join(dir, 'main'))).flags1 & 0x08000000).toBe(0x08000000);
    expect(build('libplain.so', []).flags1 & 0x800).toBe(0);
  });
});

describe('goFunctionFile (pclntab)', () => {
  /** A minimal Go 1.18 pclntab: one function `main.main` whose pcfile's first value is file 0 of its CU. */
  function table(fileName: string): Buffer {
    const b = Buffer.alloc(256);
    b.writeUInt32LE(0xfffffff0, 0);
    b[6] = 1;
    b[7] = 8;
    const header = [1, 1, 0, 96, 112, 120, 150, 152]; // nfunc, nfiles, textStart, funcnames, cutab, filetab, pctab, functab
    header.forEach((v, i) => b.writeBigUInt64LE(BigInt(v), 8 + i * 8));
    b.write('main.main\0', 96, 'latin1');
    b.writeUInt32LE(0, 112); // cutab[0] → filetab offset 0
    b.write(`${fileName}\0`, 120, 'latin1');
    b[150] = 2; // zig-zag +1: -1 + 1 = file 0
    b.writeUInt32LE(0, 152); // functab[0]: entryoff
    b.writeUInt32LE(8, 156); // functab[0]: funcoff → _func at 160
    b.writeUInt32LE(0, 164); // nameoff
    b.writeUInt32LE(0, 180); // pcfile
    b.writeUInt32LE(0, 192); // cuOffset
    return b;
  }

  it("finds main.main's file, and nothing else", () => {
    expect(goFunctionFile(table('/work/app/host/main.go'), true, 'main.main')).toBe('/work/app/host/main.go');
    expect(goFunctionFile(table('/x.go'), true, 'main.init')).toBeNull();
    const other = table('/x.go');
    other.writeUInt32LE(0xfffffffb, 0); // Go 1.16's magic: another layout
    expect(goFunctionFile(other, true, 'main.main')).toBeNull();
  });

  it('hostile tables: an ElfFormatError or an answer, never another exception or a hang (fast-check)', () => {
    fc.assert(
      fc.property(fc.nat(255), fc.integer({ min: 0, max: 255 }), fc.uint8Array({ minLength: 0, maxLength: 64 }), (at, value, noise) => {
        const bytes = table('/work/app/host/main.go');
        bytes[at] = value;
        bytes.set(noise.subarray(0, Math.max(0, bytes.length - at)), at);
        try {
          const file = goFunctionFile(bytes, true, 'main.main');
          expect(file === null || typeof file === 'string').toBe(true);
        } catch (err) {
          expect(err).toBeInstanceOf(ElfFormatError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
