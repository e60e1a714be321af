import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cacheLookup, parseLdCache } from '../../../src/elf/ld-so-cache.js';
import { followingSymlinks } from '../../../src/env/file-source.js';
import { LiveEntryReader } from '../../../src/env/live-file-source.js';
import { readElf } from '../../../src/elf/read-elf.js';
import { LibrarySearch } from '../../../src/verify/library-search.js';
import { parseLdSoHelp } from '../../../src/verify/loader-cpu-view.js';
import { programScope } from '../../../src/verify/loading-program.js';
import { predictLoad } from '../../../src/verify/predict-load.js';
import { renameVersionNeed, retagNeeded } from '../../helpers/bytes.js';
import { staticTlsSurplus } from '../../../src/verify/static-tls.js';

/**
 * Every loader rule, judged twice on this machine: verify's prediction (against this machine's
 * own files, ld.so.cache and CPU, for the program dlopen-check) and a real dlopen() by
 * dlopen-check. The two must agree, and the real answer must be the one the case is about.
 */
const work = mkdtempSync(join(tmpdir(), 'pb-host-rules-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const REPO = join(import.meta.dirname, '../../..');
const LOADER = '/lib64/ld-linux-x86-64.so.2';
const DLOPEN_CHECK = join(work, 'dlopen-check');
execFileSync('gcc', ['-O2', '-o', DLOPEN_CHECK, join(REPO, 'images/dlopen-check.c')]);
const GLIBC = /glibc (\d+\.\d+)/.exec(execFileSync('getconf', ['GNU_LIBC_VERSION'], { encoding: 'utf8' }))?.[1] ?? '0';
const CPU = parseLdSoHelp(spawnSync(LOADER, ['--help'], { encoding: 'utf8' }).stdout);

function file(path: string, text: string): string {
  const full = join(work, path);
  mkdirSync(dirname(full), { recursive: true });
  writeFileSync(full, text);
  return full;
}

/** gcc into work/`out` (a shared object unless `args` say otherwise); returns the path. */
function gcc(out: string, args: string[]): string {
  const full = join(work, out);
  mkdirSync(dirname(full), { recursive: true });
  execFileSync('gcc', ['-O2', '-fno-diagnostics-show-caret', '-o', full, ...args], { cwd: work });
  return full;
}
const shared = (out: string, source: string, ...args: string[]) => gcc(out, ['-shared', '-fPIC', source, ...args]);

/** Write a patched copy of `path` (offset → byte) and return it. */
function patched(path: string, out: string, patch: (bytes: Buffer) => void): string {
  const bytes = readFileSync(path);
  patch(bytes);
  writeFileSync(join(work, out), bytes);
  return join(work, out);
}

type Outcome = 'loads' | 'fails' | 'crashes';



function realLoad(plugin: string, ldLibraryPath?: string, tunables?: string): { outcome: Outcome; output: string } {
  const env = { PATH: process.env.PATH, ...(ldLibraryPath ? { LD_LIBRARY_PATH: ldLibraryPath } : {}), ...(tunables ? { GLIBC_TUNABLES: tunables } : {}) };
  const run = spawnSync(DLOPEN_CHECK, [plugin], { encoding: 'utf8', env });
  const output = `${run.stdout}${run.stderr}`.trim();
  return { outcome: run.status === 0 ? 'loads' : run.status === 127 && output.includes('Inconsistency detected by ld.so') ? 'crashes' : 'fails', output };
}

async function predicted(plugin: string, ldLibraryPath?: string, tunables?: string): Promise<{ outcome: Outcome; why: string }> {
  const files = followingSymlinks(new LiveEntryReader('/'));
  const search = new LibrarySearch(files, {
    family: 'glibc', arch: 'x86_64', multiarch: 'x86_64-linux-gnu', ldLibraryPath: ldLibraryPath ?? null, program: null, want: { class: 64, machine: 'x86_64' }, cpu: CPU,
  });
  const scope = await programScope(files, search, { path: DLOPEN_CHECK, how: '--loader-program' });
  const problems = await predictLoad(readElf(await readFile(plugin)), {
    fingerprint: { os: { id: 'debian', versionId: '12' }, arch: 'x86_64', libc: { family: 'glibc', version: GLIBC } },
    libraries: search, scope, cpu: CPU, pluginOrigin: dirname(plugin), pluginPath: plugin,
    staticTlsSurplus: staticTlsSurplus(tunables ? [`GLIBC_TUNABLES=${tunables}`] : []).surplus,
  });
  const outcome = problems.some((p) => p.check === 'crash') ? 'crashes' : problems.length === 0 ? 'loads' : 'fails';
  return { outcome, why: problems.map((p) => `${p.check}: ${p.message}`).join('; ') };
}

/** The case's claim about reality, then prediction = reality. */
async function agree(plugin: string, expected: Outcome, ldLibraryPath?: string, realSays?: RegExp, tunables?: string): Promise<string> {
  const real = realLoad(plugin, ldLibraryPath, tunables);
  expect(real.outcome, `real: ${real.output}`).toBe(expected);
  if (realSays) expect(real.output).toMatch(realSays);
  const prediction = await predicted(plugin, ldLibraryPath, tunables);
  expect(prediction.outcome, `predicted (${prediction.why}) vs real (${real.output})`).toBe(real.outcome);
  return prediction.why;
}

// A library "foo" in several versioned shapes, and a plugin linked against an unversioned stub.
file('foo-v12.c', 'int foo_v1(void) { return 1; }\nint foo_v2(void) { return 2; }\n__asm__(".symver foo_v1, foo@V1");\n__asm__(".symver foo_v2, foo@@V2");\n');
file('foo-v1-hidden.c', 'int foo_v1(void) { return 1; }\nint bar(void) { return 3; }\n__asm__(".symver foo_v1, foo@V1");\n');
file('foo-v1-default.c', 'int foo(void) { return 1; }\nint bar(void) { return 3; }\n');
file('v12.map', 'V1 { global: *; }; V2 { global: *; } V1;\n');
file('v01.map', 'V0 { global: bar; }; V1 { global: *; } V0;\n');
file('stub.c', 'int foo(void) { return 0; }\n');
file('user.c', 'int foo(void);\nint value(void) { return foo(); }\n');
shared('stub/libfoo.so.1', 'stub.c', '-Wl,-soname,libfoo.so.1');
const FOO_USER = shared('libfoouser.so', 'user.c', '-Lstub', '-l:libfoo.so.1');
shared('foo-a/libfoo.so.1', 'foo-v12.c', '-Wl,-soname,libfoo.so.1', '-Wl,--version-script=v12.map');
shared('foo-c/libfoo.so.1', 'foo-v1-hidden.c', '-Wl,-soname,libfoo.so.1', '-Wl,--version-script=v01.map');
shared('foo-d/libfoo.so.1', 'foo-v1-default.c', '-Wl,-soname,libfoo.so.1', '-Wl,--version-script=v01.map');

describe(`glibc's symbol binding (check_match), judged and really loaded on this machine (glibc ${GLIBC})`, () => {
  it('an unversioned reference binds to a hidden foo@V1 at version index 2 (relocations accept indexes below 3)', async () => {
    await agree(FOO_USER, 'loads', join(work, 'foo-a'));
  });
  it('an unversioned reference does not bind to a hidden foo@V1 at index 3', async () => {
    expect(await agree(FOO_USER, 'fails', join(work, 'foo-c'), /undefined symbol: foo/)).toContain('undefined symbol: foo');
  });
  it('an unversioned reference binds to the one non-hidden versioned definition (no ambiguity)', async () => {
    await agree(FOO_USER, 'loads', join(work, 'foo-d'));
  });
  it('a version need naming a library nothing loads aborts the process (dl-version.c find_needed)', async () => {
    file('nov.c', 'int nov_value(void) { return 7; }\n');
    file('nov.map', 'NOV_1 { global: nov_value; local: *; };\n');
    shared('nov/libnov.so.1', 'nov.c', '-Wl,-soname,libnov.so.1', '-Wl,--version-script=nov.map');
    const plugin = shared('libnovuser.so', file('novuser.c', 'int nov_value(void);\nint value(void) { return nov_value(); }\n'), '-Lnov', '-l:libnov.so.1');
    await agree(plugin, 'loads', join(work, 'nov'));
    // Its DT_NEEDED libnov.so.1 turned into DT_DEBUG: the NOV_1 need stays, nothing loads libnov.
    const unneeded = patched(plugin, 'libnovuser-unneeded.so', (b) => {
      retagNeeded(b, 'libnov.so.1', 21);
      expect(readElf(b).needed).not.toContain('libnov.so.1');
    });
    expect(await agree(unneeded, 'crashes', join(work, 'nov'), /_dl_check_map_versions: Assertion `needed != NULL' failed/)).toContain('needs versions of libnov.so.1 (NOV_1) but does not load it');
  });
  it('a weak undefined reference defined nowhere loads', async () => {
    await agree(shared('libweak.so', file('weak.c', 'extern int absent(void) __attribute__((weak));\nint value(void) { return absent ? absent() : 1; }\n')), 'loads');
  });
  it("a dependency's own undefined symbol fails the plugin's load, named with that dependency", async () => {
    file('b-full.c', 'int depb_value(void) { return 1; }\nint depb_extra(void) { return 2; }\n');
    file('b-small.c', 'int depb_value(void) { return 1; }\n');
    file('a.c', 'int depb_extra(void);\nint depa_value(void) { return depb_extra(); }\n');
    shared('full/libdepb.so.1', 'b-full.c', '-Wl,-soname,libdepb.so.1');
    shared('small/libdepb.so.1', 'b-small.c', '-Wl,-soname,libdepb.so.1');
    shared('small/libdepa.so.1', 'a.c', '-Wl,-soname,libdepa.so.1', '-Lfull', '-l:libdepb.so.1');
    const plugin = shared('libdepuser.so', file('depuser.c', 'int depa_value(void);\nint value(void) { return depa_value(); }\n'), '-Lsmall', '-l:libdepa.so.1');
    const why = await agree(plugin, 'fails', join(work, 'small'), /libdepa\.so\.1: undefined symbol: depb_extra/);
    expect(why).toContain(`${join(work, 'small/libdepa.so.1')} (loaded for the plugin): depb_extra`);
  });
});

describe('static TLS for initial-exec TLS in a dlopen()ed object', () => {
  const ie = (n: number, extra = '') => file(`tls${n}${extra}.c`, `static __thread char buf[${n}] __attribute__((tls_model("initial-exec")));\nint value(void) { buf[0]++; return buf[${n} - 1]; }\n`);
  it('the exact limit: the surplus (1664) plus alignment slack after the program own blocks', async () => {
    // dlopen-check's start-up TLS is libc's 144-byte block: 1856 - 144 = 1712 bytes are free.
    await agree(shared('libtls1712.so', ie(1712)), 'loads');
    expect(await agree(shared('libtls1713.so', ie(1713)), 'fails', undefined, /cannot allocate memory in static TLS block/)).toContain('1712 bytes are left');
    await agree(shared('libtls64k.so', ie(65536)), 'fails');
  });
  it("the image's GLIBC_TUNABLES move the limit (glibc.rtld.optional_static_tls, glibc.rtld.nns)", async () => {
    const tls = join(work, 'libtls1713.so');
    await agree(tls, 'loads', undefined, undefined, 'glibc.rtld.optional_static_tls=4096');
    await agree(tls, 'loads', undefined, undefined, 'glibc.rtld.nns=8');
    await agree(shared('libtls1000.so', ie(1000)), 'fails', undefined, /static TLS/, 'glibc.rtld.nns=1:glibc.rtld.optional_static_tls=0');
  });
  it("initial-exec access to a dependency's TLS needs the dependency's whole block", async () => {
    file('deptls.c', '__thread char dep_tls[4096];\n');
    shared('tlsdep/libdeptls.so.1', 'deptls.c', '-Wl,-soname,libdeptls.so.1');
    file('usetls.c', 'extern __thread char dep_tls[4096] __attribute__((tls_model("initial-exec")));\nint value(void) { return dep_tls[0]; }\n');
    const plugin = shared('libusetls.so', 'usetls.c', '-Ltlsdep', '-l:libdeptls.so.1');
    expect(readElf(readFileSync(plugin)).staticTlsReferences).toEqual([{ symbol: 'dep_tls' }]);
    expect(await agree(plugin, 'fails', join(work, 'tlsdep'), /libdeptls\.so\.1: cannot allocate memory in static TLS block/)).toContain('libdeptls.so.1 uses initial-exec TLS: its 4096-byte TLS block');
  });

  it('initial-exec access to a TLS symbol the plugin defines but the start-up objects define too binds there: no static TLS needed (a Go plugin\'s runtime.tlsg)', async () => {
    // `errno` is defined (global, default visibility) here and in libc.so.6: the TPOFF relocation
    // looks it up, finds libc's first, and libc's block is static already. The plugin's own 64 KiB
    // block is never asked for static TLS, so the plugin loads.
    const source = file('tlsinterposed.c', '__thread int errno __attribute__((tls_model("initial-exec")));\nstatic __thread char big[65536];\nint value(void) { big[0]++; return errno + big[1]; }\n');
    const plugin = shared('libtlsinterposed.so', source);
    expect(readElf(readFileSync(plugin)).staticTlsReferences).toEqual([{ symbol: 'errno' }]);
    await agree(plugin, 'loads');
    // The same with the symbol hidden: it is the plugin's own block, 64 KiB does not fit.
    const hidden = shared('libtlshidden.so', file('tlshidden.c', '__thread int errno __attribute__((tls_model("initial-exec"), visibility("hidden")));\nstatic __thread char big[65536];\nint value(void) { big[0]++; return errno + big[1]; }\n'));
    await agree(hidden, 'fails', undefined, /cannot allocate memory in static TLS block/);
  });
});

describe('ELF header rules (open_verify, _dl_map_object_from_fd)', () => {
  const plain = shared('libplain.so', file('plain.c', 'int value(void) { return 1; }\n'));
  const cases: Array<[string, (b: Buffer) => void, Outcome]> = [
    ['OS ABI GNU, ABI version 3 (below LIBC_ABI_MAX 4 on x86_64)', (b) => { b[7] = 3; b[8] = 3; }, 'loads'],
    ['OS ABI GNU, ABI version 4', (b) => { b[7] = 3; b[8] = 4; }, 'fails'],
    ['OS ABI SYSV, ABI version 1', (b) => { b[8] = 1; }, 'fails'],
    ['OS ABI FreeBSD', (b) => { b[7] = 9; }, 'fails'],
    ['nonzero e_ident padding', (b) => { b[12] = 1; }, 'fails'],
    ['EI_VERSION 2', (b) => { b[6] = 2; }, 'fails'],
    ['e_version 2', (b) => { b.writeUInt32LE(2, 20); }, 'fails'],
    ['e_phentsize 64', (b) => { b.writeUInt16LE(64, 54); }, 'fails'],
  ];
  it.each(cases.map(([what, patch, expected]) => ({ what, patch, expected })))('$what: $expected', async ({ what, patch, expected }) => {
    await agree(patched(plain, `hdr-${what.replace(/\W+/g, '-')}.so`, patch), expected);
  });
  /** Rewrite the program headers of type `type` (ELF64) with `edit(entry offset)`. */
  const programHeaders = (b: Buffer, type: number, edit: (at: number) => void) => {
    const phoff = Number(b.readBigUInt64LE(32));
    for (let i = 0; i < b.readUInt16LE(56); i++) if (b.readUInt32LE(phoff + 56 * i) === type) edit(phoff + 56 * i);
  };
  const segmentCases: Array<[string, (b: Buffer) => void, RegExp]> = [
    ['no PT_DYNAMIC', (b) => programHeaders(b, 2, (at) => b.writeUInt32LE(0, at)), /object file has no dynamic section/],
    ['no PT_LOAD', (b) => programHeaders(b, 1, (at) => b.writeUInt32LE(0, at)), /object file has no loadable segments/],
    ['a PT_LOAD whose offset and address differ by a part of a page', (b) => programHeaders(b, 1, (at) => b.writeBigUInt64LE(b.readBigUInt64LE(at + 8) + 16n, at + 8)), /ELF load command address\/offset not page-aligned/],
  ];
  it.each(segmentCases.map(([what, patch, says]) => ({ what, patch, says })))('$what: fails', async ({ what, patch, says }) => {
    await agree(patched(plain, `seg-${what.replace(/\W+/g, '-')}.so`, patch), 'fails', undefined, says);
  });
  it('DT_RELR needs a GLIBC_ABI_DT_RELR version need (dl-version.c)', async () => {
    file('relr.c', '#include <stdlib.h>\nstatic int a, b, c;\nint *ptrs[] = { &a, &b, &c, &a, &b, &c };\nint value(void) { return abs(*ptrs[2]) + atoi("1"); }\n');
    const relr = shared('librelr.so', 'relr.c', '-Wl,-z,pack-relative-relocs');
    expect(readElf(readFileSync(relr)).hasRelr).toBe(true);
    await agree(relr, 'loads');
    // The same object with its GLIBC_ABI_DT_RELR need renamed (name and ELF hash) to GLIBC_2.2.5.
    const withoutNeed = patched(relr, 'librelr-noneed.so', (b) => renameVersionNeed(b, 'GLIBC_ABI_DT_RELR', 'GLIBC_2.2.5'));
    await agree(withoutNeed, 'fails', undefined, /DT_RELR without GLIBC_ABI_DT_RELR dependency/);
  });
  it('a dependency gets the same header checks as the plugin', async () => {
    file('dep.c', 'int dep_value(void) { return 2; }\n');
    shared('hdr-dep/libhdrdep.so.1', 'dep.c', '-Wl,-soname,libhdrdep.so.1');
    const plugin = shared('libhdruser.so', file('hdruser.c', 'int dep_value(void);\nint value(void) { return dep_value(); }\n'), '-Lhdr-dep', '-l:libhdrdep.so.1');
    await agree(plugin, 'loads', join(work, 'hdr-dep'));
    mkdirSync(join(work, 'hdr-dep-freebsd'), { recursive: true });
    patched(join(work, 'hdr-dep/libhdrdep.so.1'), 'hdr-dep-freebsd/libhdrdep.so.1', (b) => (b[7] = 9));
    expect(await agree(plugin, 'fails', join(work, 'hdr-dep-freebsd'), /ELF file OS ABI invalid/)).toContain('hdr-dep-freebsd/libhdrdep.so.1: its ELF OS ABI is 9');
    shared('hdr-dep-noopen/libhdrdep.so.1', 'dep.c', '-Wl,-soname,libhdrdep.so.1', '-Wl,-z,nodlopen');
    await agree(plugin, 'fails', join(work, 'hdr-dep-noopen'), /shared object cannot be dlopen\(\)ed/);
  });
  it('executables and DF_1_NOOPEN are refused', async () => {
    file('main.c', 'int main(void) { return 0; }\n');
    await agree(gcc('pie', ['-pie', '-fPIE', 'main.c']), 'fails', undefined, /cannot dynamically load position-independent executable/);
    await agree(gcc('nopie', ['-no-pie', 'main.c']), 'fails', undefined, /cannot dynamically load executable/);
    await agree(shared('libnoopen.so', 'plain.c', '-Wl,-z,nodlopen'), 'fails', undefined, /shared object cannot be dlopen\(\)ed/);
  });
});

describe("the CPU, as this machine's loader sees it", () => {
  it('parses ld.so --help', () => {
    expect(CPU).not.toBeNull();
    expect(CPU!.hwcaps.every((h) => /^x86-64-v[234]$/.test(h))).toBe(true);
    expect(CPU!.x86IsaLevels & 1).toBe(1);
  });
  it('an ISA level the CPU has loads; a level bit no CPU has is refused ("CPU ISA level is lower than required")', async () => {
    const v2 = shared('libisa2.so', 'plain.c', '-Wl,-z,x86-64-v2');
    expect(readElf(readFileSync(v2)).x86IsaNeeded).toBe(2);
    await agree(v2, 'loads');
    // GNU_PROPERTY_X86_ISA_1_NEEDED (0xc0008002), 4 bytes of data: set a bit above v4.
    const future = patched(v2, 'libisa-future.so', (b) => {
      const at = b.indexOf(Buffer.from([0x02, 0x80, 0x00, 0xc0, 0x04, 0x00, 0x00, 0x00]));
      b.writeUInt32LE(16, at + 8);
    });
    expect(await agree(future, 'fails', undefined, /CPU ISA level is lower than required/)).toContain('ISA bit 16');
  });
  it('a glibc-hwcaps variant is preferred to the baseline library, on the levels the CPU has', async () => {
    file('solo.c', 'int solo_value(void) { return 5; }\n');
    file('solo-broken.c', 'int solo_other(void) { return 6; }\n');
    shared('hw/libsolo.so.1', 'solo.c', '-Wl,-soname,libsolo.so.1');
    shared('hw/glibc-hwcaps/x86-64-v2/libsolo.so.1', 'solo-broken.c', '-Wl,-soname,libsolo.so.1');
    const plugin = shared('libsolouser.so', file('solouser.c', 'int solo_value(void);\nint value(void) { return solo_value(); }\n'), '-Lhw', '-l:libsolo.so.1');
    await agree(plugin, CPU!.hwcaps.includes('x86-64-v2') ? 'fails' : 'loads', join(work, 'hw'));
  });
  it('legacy hwcaps subdirectories (tls/, the platform) come first before glibc 2.37, not after', async () => {
    shared('legacy/libsolo.so.1', 'solo.c', '-Wl,-soname,libsolo.so.1');
    shared('legacy/tls/libsolo.so.1', 'solo-broken.c', '-Wl,-soname,libsolo.so.1');
    const plugin = join(work, 'libsolouser.so');
    await agree(plugin, CPU!.legacy.includes('tls') ? 'fails' : 'loads', join(work, 'legacy'));
  });
  it("ld.so.cache's glibc-hwcaps entries, written by this machine's ldconfig, are taken for the CPU's levels", () => {
    const root = join(work, 'cache-root');
    mkdirSync(join(root, 'etc'), { recursive: true });
    writeFileSync(join(root, 'etc/ld.so.conf'), '/opt/l\n');
    mkdirSync(join(root, 'opt/l/glibc-hwcaps/x86-64-v2'), { recursive: true });
    writeFileSync(join(root, 'opt/l/libsolo.so.1'), readFileSync(join(work, 'hw/libsolo.so.1')));
    writeFileSync(join(root, 'opt/l/glibc-hwcaps/x86-64-v2/libsolo.so.1'), readFileSync(join(work, 'hw/glibc-hwcaps/x86-64-v2/libsolo.so.1')));
    execFileSync('ldconfig', ['-r', root]);
    const entries = parseLdCache(readFileSync(join(root, 'etc/ld.so.cache')));
    expect(cacheLookup(entries, 'libsolo.so.1', 'x86_64', { hwcaps: ['x86-64-v3', 'x86-64-v2'], legacy: [] })).toBe('/opt/l/glibc-hwcaps/x86-64-v2/libsolo.so.1');
    expect(cacheLookup(entries, 'libsolo.so.1', 'x86_64', { hwcaps: [], legacy: [] })).toBe('/opt/l/libsolo.so.1');
    expect(cacheLookup(entries, 'libsolo.so.1', 'x86_64')).toBe('/opt/l/libsolo.so.1');
  });
});

describe('search paths', () => {
  it('DT_RPATH is inherited by the dependencies; DT_RUNPATH is not', async () => {
    file('inner.c', 'int inner(void) { return 1; }\n');
    file('outer.c', 'int inner(void);\nint outer(void) { return inner(); }\n');
    shared('rp/libinner.so.1', 'inner.c', '-Wl,-soname,libinner.so.1');
    shared('rp/libouter.so.1', 'outer.c', '-Wl,-soname,libouter.so.1', '-Lrp', '-l:libinner.so.1');
    file('top.c', 'int outer(void);\nint value(void) { return outer(); }\n');
    const rpath = shared('librpath.so', 'top.c', '-Lrp', '-l:libouter.so.1', `-Wl,--disable-new-dtags,-rpath,${join(work, 'rp')}`);
    const runpath = shared('librunpath.so', 'top.c', '-Lrp', '-l:libouter.so.1', `-Wl,--enable-new-dtags,-rpath,${join(work, 'rp')}`);
    await agree(rpath, 'loads');
    await agree(runpath, 'fails', undefined, /libinner\.so\.1: cannot open shared object file/);
  });
  it('a candidate of another ELF class is passed over; the search goes on', async () => {
    shared('good/libsolo.so.1', 'solo.c', '-Wl,-soname,libsolo.so.1');
    mkdirSync(join(work, 'other-class'), { recursive: true });
    patched(join(work, 'good/libsolo.so.1'), 'other-class/libsolo.so.1', (b) => (b[4] = 1));
    await agree(join(work, 'libsolouser.so'), 'loads', `${join(work, 'other-class')}:${join(work, 'good')}`);
    await agree(join(work, 'libsolouser.so'), 'fails', join(work, 'other-class'), /cannot open shared object file|wrong ELF class/);
  });
  it('a directory of that name stops the search ("cannot read file data: Is a directory")', async () => {
    mkdirSync(join(work, 'dir-first/libsolo.so.1'), { recursive: true });
    await agree(join(work, 'libsolouser.so'), 'fails', `${join(work, 'dir-first')}:${join(work, 'good')}`, /cannot read file data: Is a directory/);
  });
});
