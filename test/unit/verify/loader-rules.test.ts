import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readElf } from '../../../src/elf/read-elf.js';
import { LibrarySearch } from '../../../src/verify/library-search.js';
import { predictLoad } from '../../../src/verify/predict-load.js';

const work = mkdtempSync(join(tmpdir(), 'pb-rules-'));
writeFileSync(join(work, 'inner.c'), 'int inner(void) { return 1; }\n');
writeFileSync(join(work, 'outer.c'), 'int inner(void);\nint outer(void) { return inner(); }\n');
writeFileSync(join(work, 'plugin.c'), 'int outer(void);\nint value(void) { return outer(); }\n');
writeFileSync(join(work, 'main.c'), 'int main(void) { return 0; }\n');

function gcc(out: string, args: string[]): Buffer {
  execFileSync('gcc', ['-o', join(work, out), ...args], { cwd: work });
  return readFileSync(join(work, out));
}

const INNER = gcc('libinner.so.1', ['-shared', '-fPIC', 'inner.c', '-Wl,-soname,libinner.so.1']);
const OUTER = gcc('libouter.so.1', ['-shared', '-fPIC', 'outer.c', '-Wl,-soname,libouter.so.1', '-L.', '-l:libinner.so.1']);
const PLUGIN = gcc('libplugin.so', ['-shared', '-fPIC', 'plugin.c', '-L.', '-l:libouter.so.1']);
const LIBC = readFileSync('/lib/x86_64-linux-gnu/libc.so.6');

const fingerprint = (version: string) => ({ os: { id: 'debian', versionId: '13' }, arch: 'x86_64', libc: { family: 'glibc' as const, version } });

function search(files: Record<string, Buffer>): LibrarySearch {
  const map = new Map(Object.entries({ '/lib/x86_64-linux-gnu/libc.so.6': LIBC, ...files }));
  return new LibrarySearch({ readFile: async (p) => map.get(p) ?? null }, { family: 'glibc', arch: 'x86_64', multiarch: 'x86_64-linux-gnu', ldLibraryPath: null, program: null, want: { class: 64, machine: 'x86_64' } });
}

describe('loader rules beyond the search path (glibc)', () => {
  it("a dependency's own dependency must be found too, and is named with the chain", async () => {
    const problems = await predictLoad(readElf(PLUGIN), { fingerprint: fingerprint('2.36'), libraries: search({ '/usr/lib/x86_64-linux-gnu/libouter.so.1': OUTER }) });
    expect(problems.map((p) => [p.check, p.message])).toEqual([
      ['missing-library', 'needs libinner.so.1 (through libouter.so.1), which the loader does not find ("libinner.so.1: cannot open shared object file: No such file or directory")'],
    ]);
    const ok = await predictLoad(readElf(PLUGIN), { fingerprint: fingerprint('2.36'), libraries: search({ '/usr/lib/x86_64-linux-gnu/libouter.so.1': OUTER, '/usr/lib/x86_64-linux-gnu/libinner.so.1': INNER }) });
    expect(ok).toEqual([]);
  });

  it('executable stack: refused by glibc 2.41 for a dlopen()ed object, granted by 2.36, fine when the program already has one', async () => {
    const execstack = readElf(gcc('libexec.so', ['-shared', '-fPIC', 'inner.c', '-Wl,-z,execstack']));
    expect(execstack.executableStack).toBe(true);
    expect(readElf(INNER).executableStack).toBe(false);
    const lib = search({});
    expect((await predictLoad(execstack, { fingerprint: fingerprint('2.41'), libraries: lib })).map((p) => p.check)).toEqual(['exec-stack']);
    expect(await predictLoad(execstack, { fingerprint: fingerprint('2.36'), libraries: lib })).toEqual([]);
  });

  it('an OS ABI other than SYSV or GNU is refused by glibc ("ELF file OS ABI invalid")', async () => {
    const freebsd = Buffer.from(INNER);
    freebsd[7] = 9;
    const problems = await predictLoad(readElf(freebsd), { fingerprint: fingerprint('2.36'), libraries: search({}) });
    expect(problems.map((p) => p.check)).toEqual(['elf-header']);
    expect(problems[0]?.message).toContain('ELF file OS ABI invalid');
    const gnu = Buffer.from(INNER);
    gnu[7] = 3;
    expect(await predictLoad(readElf(gnu), { fingerprint: fingerprint('2.36'), libraries: search({}) })).toEqual([]);
  });

  it('an executable is refused: PIE ("cannot dynamically load position-independent executable") and non-PIE', async () => {
    const pie = readElf(gcc('pie', ['-pie', '-fPIE', 'main.c']));
    const fixed = readElf(gcc('nopie', ['-no-pie', 'main.c']));
    const lib = search({});
    expect((await predictLoad(pie, { fingerprint: fingerprint('2.36'), libraries: lib }))[0]?.message).toContain('cannot dynamically load position-independent executable');
    expect((await predictLoad(fixed, { fingerprint: fingerprint('2.36'), libraries: lib }))[0]?.message).toContain('cannot dynamically load executable');
  });
});

describe("symbols an object's own relocations name are looked up too (glibc RESOLVE_MAP, musl do_relocs)", () => {
  writeFileSync(join(work, 'own.c'), 'static int impl(void) { return 7; }\nstatic void *resolve(void) { return (void *)impl; }\nint own_value(void) __attribute__((ifunc("resolve")));\nint Value(void) { return own_value(); }\n');
  writeFileSync(join(work, 'hidden.c'), '__attribute__((visibility("hidden"))) int own_hidden(void) { return 1; }\nint Value(void) { return own_hidden(); }\n');
  const OWN = readElf(gcc('libown.so', ['-shared', '-fPIC', '-nostdlib', 'own.c']));
  const muslSearch = new LibrarySearch({ readFile: async () => null }, { family: 'musl', arch: 'x86_64', multiarch: 'x86_64-linux-musl', ldLibraryPath: null, program: null, want: { class: 64, machine: 'x86_64' } });
  const musl = { os: { id: 'alpine', versionId: '3.20' }, arch: 'x86_64', libc: { family: 'musl' as const, version: '1.2.5' } };

  it('an exported IFUNC the plugin calls itself: glibc binds it to the plugin; musl passes over it and fails', async () => {
    expect(OWN.definedReferences.map((r) => r.symbol)).toEqual(['own_value']);
    expect(OWN.imports).toEqual([]);
    expect(await predictLoad(OWN, { fingerprint: fingerprint('2.36'), libraries: search({}) })).toEqual([]);
    const problems = await predictLoad(OWN, { fingerprint: musl, libraries: muslSearch });
    expect(problems.map((p) => p.check)).toEqual(['missing-symbol']);
    expect(problems[0]?.message).toContain('the plugin defines own_value, but it is an IFUNC (STT_GNU_IFUNC), which musl does not bind');
  });

  it('a hidden symbol is bound by the linker: no dynamic relocation names it', () => {
    const hidden = readElf(gcc('libhidden.so', ['-shared', '-fPIC', '-nostdlib', 'hidden.c']));
    expect(hidden.definedReferences).toEqual([]);
  });
});
