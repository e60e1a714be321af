import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLdSoHelp } from '../../src/verify/loader-cpu-view.js';
import { patchDynamicSymbol, renameVersionNeed, retagNeeded } from '../helpers/bytes.js';
import { type BuiltCPlugins, buildCPlugins, relocked } from '../helpers/c-plugins.js';
import { BASE_TRIXIE, HOST_ARM64, HOST_BOOKWORM, HOST_MUSL, HOST_MUSL_ARM64, HOST_TRIXIE, requireDocker, skipDocker } from '../helpers/docker.js';
import { startHostContainer } from '../helpers/host-container.js';
import { buildTestImage, runWithFile } from '../helpers/images.js';
import { cli, REPO } from '../helpers/project.js';

/**
 * A cell for each loader rule verify models (README, "Loader rules"): a plugin and a host image
 * made to meet that rule, verify's prediction, and a real dlopen() in that image. Libraries come
 * from this machine's gcc (Debian 12, the bookworm images' toolchain and glibc); plugins from
 * `builder build`, or, for shapes builder never writes, host-built or patched bytes locked as if
 * a toolchain had produced them.
 */
type Outcome = 'loads' | 'fails' | 'crashes';

const KOFFI_LOAD = "try { require('/app/node_modules/koffi').load(process.argv[1]); console.log('loaded') } catch (e) { console.error(e.message); process.exit(1) }";

const DLOPEN_CHECK = '/usr/local/bin/dlopen-check';
const ABOUT_THE_CPU = parseLdSoHelp(spawnSync('/lib64/ld-linux-x86-64.so.2', ['--help'], { encoding: 'utf8' }).stdout ?? '');

const IMG = {
  dev: 'plugin-builder/test-rules-dev:bookworm',
  base: 'plugin-builder/test-rules-base:bookworm',
  baseTrixie: 'plugin-builder/test-rules-base:trixie',
  noDepB: 'plugin-builder/test-rules-nodepb:bookworm',
  depVersion: 'plugin-builder/test-rules-depversion:bookworm',
  depVersionOk: 'plugin-builder/test-rules-depversion-ok:bookworm',
  depSymbol: 'plugin-builder/test-rules-depsymbol:bookworm',
  rpathDir: 'plugin-builder/test-rules-rpathdir:bookworm',
  origin: 'plugin-builder/test-rules-origin:bookworm',
  otherClass: 'plugin-builder/test-rules-otherclass:bookworm',
  hwcaps: 'plugin-builder/test-rules-hwcaps:bookworm',
  legacy: 'plugin-builder/test-rules-legacy:bookworm',
  legacyTrixie: 'plugin-builder/test-rules-legacy:trixie',
  hiddenVersion: 'plugin-builder/test-rules-hiddenversion:bookworm',
  indexTwo: 'plugin-builder/test-rules-indextwo:bookworm',
  tunables: 'plugin-builder/test-rules-tunables:bookworm',
  depHeader: 'plugin-builder/test-rules-depheader:bookworm',
  preloadEnv: 'plugin-builder/test-rules-preload-env:bookworm',
  preloadFile: 'plugin-builder/test-rules-preload-file:bookworm',
  llpSemicolon: 'plugin-builder/test-rules-llp-semicolon:bookworm',
  llpEmpty: 'plugin-builder/test-rules-llp-empty:bookworm',
  llpRelative: 'plugin-builder/test-rules-llp-relative:bookworm',
  symsGlibc: 'plugin-builder/test-rules-syms:bookworm',
  symsMusl: 'plugin-builder/test-rules-syms-musl:trixie',
};

const work = await mkdtemp(join(tmpdir(), 'pb-rules-matrix-'));
const src = (name: string, text: string) => writeFile(join(work, name), text);
const gcc = (out: string, args: string[]) => execFileSync('gcc', ['-O2', '-o', join(work, out), ...args], { cwd: work });
const lib = (out: string, source: string, soname: string, ...args: string[]) => gcc(out, ['-shared', '-fPIC', source, `-Wl,-soname,${soname}`, ...args]);

async function hostLibraries(): Promise<Record<string, Buffer>> {
  await src('solo.c', 'int solo_value(void) { return 5; }\n');
  await src('solo-broken.c', 'int solo_other(void) { return 6; }\n');
  await src('b1.c', 'int depb_value(void) { return 1; }\n');
  await src('b2.c', 'int depb_value(void) { return 1; }\nint depb_new(void) { return 2; }\n');
  await src('bx.c', 'int depb_value(void) { return 1; }\nint depb_extra(void) { return 3; }\n');
  await src('b1.map', 'DEPB_1 { global: depb_value; local: *; };\n');
  await src('b2.map', 'DEPB_1 { global: depb_value; local: *; };\nDEPB_2 { global: depb_new; } DEPB_1;\n');
  await src('bx.map', 'DEPB_1 { global: depb_value; depb_extra; local: *; };\n');
  await src('a.c', 'int depb_value(void);\nint depa_value(void) { return depb_value(); }\n');
  await src('a-new.c', 'int depb_new(void);\nint depa_value(void) { return depb_new(); }\n');
  await src('a-extra.c', 'int depb_extra(void);\nint depa_value(void) { return depb_extra(); }\n');
  await src('foo-stub.c', 'int foo(void) { return 0; }\n');
  await src('foo-v12.c', 'int foo_v1(void) { return 1; }\nint foo_v2(void) { return 2; }\n__asm__(".symver foo_v1, foo@V1");\n__asm__(".symver foo_v2, foo@@V2");\n');
  await src('foo-hidden.c', 'int foo_v1(void) { return 1; }\nint bar(void) { return 3; }\n__asm__(".symver foo_v1, foo@V1");\n');
  await src('v12.map', 'V1 { global: *; }; V2 { global: *; } V1;\n');
  await src('v01.map', 'V0 { global: bar; }; V1 { global: *; } V0;\n');
  lib('libsolo.so.1', 'solo.c', 'libsolo.so.1');
  lib('libsolo-broken.so.1', 'solo-broken.c', 'libsolo.so.1');
  lib('libdepb-1.so.1', 'b1.c', 'libdepb.so.1', '-Wl,--version-script=b1.map');
  lib('libdepb-2.so.1', 'b2.c', 'libdepb.so.1', '-Wl,--version-script=b2.map');
  lib('libdepb-x.so.1', 'bx.c', 'libdepb.so.1', '-Wl,--version-script=bx.map');
  lib('libdepa.so.1', 'a.c', 'libdepa.so.1', '-L.', '-l:libdepb-1.so.1');
  lib('libdepa-new.so.1', 'a-new.c', 'libdepa.so.1', '-L.', '-l:libdepb-2.so.1');
  lib('libdepa-extra.so.1', 'a-extra.c', 'libdepa.so.1', '-L.', '-l:libdepb-x.so.1');
  lib('libfoo-stub.so.1', 'foo-stub.c', 'libfoo.so.1');
  lib('libfoo-v12.so.1', 'foo-v12.c', 'libfoo.so.1', '-Wl,--version-script=v12.map');
  lib('libfoo-hidden.so.1', 'foo-hidden.c', 'libfoo.so.1', '-Wl,--version-script=v01.map');
  gcc('dlopen-check', [join(REPO, 'images/dlopen-check.c')]);
  // One library of each symbol class the loaders' lookups tell apart, and a user of each. Without
  // libc (-nostdlib) the same bytes load under glibc's loader and musl's.
  await src('syms.c', 'static int impl(void) { return 7; }\nstatic void *resolve(void) { return (void *)impl; }\nint ifunc_value(void) __attribute__((ifunc("resolve")));\n' +
    'int vis_value(void) { return 3; }\nint local_value(void) { return 4; }\n__asm__(".globl abs_zero\\n.set abs_zero, 0\\n");\n');
  lib('libsyms.so.1', 'syms.c', 'libsyms.so.1', '-nostdlib');
  for (const user of ['ifunc', 'vis', 'local']) {
    await src(`${user}-user.c`, `int ${user}_value(void);\nint Value(void) { return ${user}_value(); }\n`);
    gcc(`${user}-user.so`, ['-shared', '-fPIC', '-nostdlib', `${user}-user.c`, '-L.', '-l:libsyms.so.1']);
  }
  await src('abs-user.c', 'extern char abs_zero[];\nlong Value(void) { return (long)abs_zero; }\n');
  gcc('abs-user.so', ['-shared', '-fPIC', '-nostdlib', 'abs-user.c', '-L.', '-l:libsyms.so.1']);
  // Its own exported IFUNC, called: a JUMP_SLOT against its own definition, looked up like an import.
  await src('own-user.c', 'static int impl(void) { return 7; }\nstatic void *resolve(void) { return (void *)impl; }\nint own_value(void) __attribute__((ifunc("resolve")));\nint Value(void) { return own_value(); }\n');
  gcc('own-user.so', ['-shared', '-fPIC', '-nostdlib', 'own-user.c']);
  const names = ['libsolo.so.1', 'libsolo-broken.so.1', 'libdepb-1.so.1', 'libdepb-2.so.1', 'libdepb-x.so.1', 'libdepa.so.1', 'libdepa-new.so.1', 'libdepa-extra.so.1', 'libfoo-stub.so.1', 'libfoo-v12.so.1', 'libfoo-hidden.so.1', 'dlopen-check'];
  const files: Record<string, Buffer> = {};
  for (const n of names) files[n] = await readFile(join(work, n));
  // A copy of libsolo of the other ELF class: only its EI_CLASS byte differs.
  files['libsolo-other-class.so.1'] = Buffer.from(files['libsolo.so.1']!);
  files['libsolo-other-class.so.1'][4] = 1;
  files['libsolo-freebsd.so.1'] = Buffer.from(files['libsolo.so.1']!);
  files['libsolo-freebsd.so.1'][7] = 9;
  // GLOBAL with hidden visibility, and LOCAL: shapes a linker never leaves in .dynsym, read by the loaders all the same.
  const syms = await readFile(join(work, 'libsyms.so.1'));
  patchDynamicSymbol(syms, 'vis_value', { other: 2 /* STV_HIDDEN */ });
  patchDynamicSymbol(syms, 'local_value', { info: 0x02 /* STB_LOCAL, STT_FUNC */ });
  files['libsyms.so.1'] = syms;
  for (const user of ['ifunc', 'vis', 'local', 'abs', 'own']) files[`${user}-user.so`] = await readFile(join(work, `${user}-user.so`));
  return files;
}

/** A Dockerfile: `from` + dlopen-check + `steps` as root (the host images run as uid 10001). */
const image = (from: string, steps = '') => `FROM ${from}\nUSER root\nCOPY dlopen-check ${DLOPEN_CHECK}\nRUN chmod 755 ${DLOPEN_CHECK}\n${steps}USER 10001\n`;
/** Install files into a directory registered with ldconfig: [source, name]... */
const cached = (dir: string, files: Array<[string, string]>) =>
  `${files.map(([from, to]) => `COPY ${from} ${dir}/${to}\n`).join('')}RUN echo ${dir} > /etc/ld.so.conf.d/rules.conf && ldconfig\n`;

const IMAGES: Record<keyof typeof IMG, string> = {
  dev: image(HOST_BOOKWORM, `${cached('/opt/l', [['libsolo.so.1', 'libsolo.so.1'], ['libdepa.so.1', 'libdepa.so.1'], ['libdepb-1.so.1', 'libdepb.so.1'], ['libfoo-stub.so.1', 'libfoo.so.1']])}RUN cd /opt/l && for l in solo depa depb foo; do ln -s lib$l.so.1 lib$l.so; done\n`),
  base: image(HOST_BOOKWORM),
  baseTrixie: image(HOST_TRIXIE),
  noDepB: image(HOST_BOOKWORM, cached('/opt/l', [['libdepa.so.1', 'libdepa.so.1']])),
  depVersion: image(HOST_BOOKWORM, cached('/opt/l', [['libdepa-new.so.1', 'libdepa.so.1'], ['libdepb-1.so.1', 'libdepb.so.1']])),
  depVersionOk: image(HOST_BOOKWORM, cached('/opt/l', [['libdepa-new.so.1', 'libdepa.so.1'], ['libdepb-2.so.1', 'libdepb.so.1']])),
  depSymbol: image(HOST_BOOKWORM, cached('/opt/l', [['libdepa-extra.so.1', 'libdepa.so.1'], ['libdepb-1.so.1', 'libdepb.so.1']])),
  rpathDir: image(HOST_BOOKWORM, 'COPY libdepa.so.1 /opt/r/libdepa.so.1\nCOPY libdepb-1.so.1 /opt/r/libdepb.so.1\n'),
  origin: image(HOST_BOOKWORM, 'COPY libsolo.so.1 /app/plugins/deps/libsolo.so.1\n'),
  otherClass: image(HOST_BOOKWORM, 'COPY libsolo-other-class.so.1 /opt/bad/libsolo.so.1\nCOPY libsolo.so.1 /opt/good/libsolo.so.1\nENV LD_LIBRARY_PATH=/opt/bad:/opt/good\n'),
  hwcaps: image(HOST_BOOKWORM, cached('/opt/l', [['libsolo.so.1', 'libsolo.so.1'], ['libsolo-broken.so.1', 'glibc-hwcaps/x86-64-v2/libsolo.so.1']])),
  legacy: image(HOST_BOOKWORM, 'COPY libsolo.so.1 /opt/x/libsolo.so.1\nCOPY libsolo-broken.so.1 /opt/x/tls/libsolo.so.1\nENV LD_LIBRARY_PATH=/opt/x\n'),
  legacyTrixie: image(HOST_TRIXIE, 'COPY libsolo.so.1 /opt/x/libsolo.so.1\nCOPY libsolo-broken.so.1 /opt/x/tls/libsolo.so.1\nENV LD_LIBRARY_PATH=/opt/x\n'),
  hiddenVersion: image(HOST_BOOKWORM, cached('/opt/l', [['libfoo-hidden.so.1', 'libfoo.so.1']])),
  indexTwo: image(HOST_BOOKWORM, cached('/opt/l', [['libfoo-v12.so.1', 'libfoo.so.1']])),
  tunables: image(HOST_BOOKWORM, 'ENV GLIBC_TUNABLES=glibc.rtld.optional_static_tls=4096\n'),
  depHeader: image(HOST_BOOKWORM, 'COPY libsolo-freebsd.so.1 /opt/h/libsolo.so.1\nENV LD_LIBRARY_PATH=/opt/h\n'),
  // What the loading process has mapped before main: LD_PRELOAD in its environment, /etc/ld.so.preload.
  preloadEnv: image(HOST_BOOKWORM, 'ENV LD_PRELOAD=libm.so.6\n'),
  preloadFile: image(HOST_BOOKWORM, 'RUN echo /lib/x86_64-linux-gnu/libm.so.6 > /etc/ld.so.preload\n'),
  // Spellings of LD_LIBRARY_PATH glibc accepts: ';' separates too, an empty entry and a relative one are the working directory.
  llpSemicolon: image(HOST_BOOKWORM, 'COPY libsolo.so.1 /opt/s/libsolo.so.1\nENV LD_LIBRARY_PATH=/nonexistent;/opt/s\n'),
  llpEmpty: image(HOST_BOOKWORM, 'COPY libsolo.so.1 /work/libsolo.so.1\nWORKDIR /work\nENV LD_LIBRARY_PATH=/nonexistent:\n'),
  llpRelative: image(HOST_BOOKWORM, 'COPY libsolo.so.1 /work/rel/libsolo.so.1\nWORKDIR /work\nENV LD_LIBRARY_PATH=rel\n'),
  // Symbol classes (src/verify/symbol-tables.ts): the musl stand-in has its own musl dlopen-check.
  symsGlibc: image(HOST_BOOKWORM, 'COPY libsyms.so.1 /usr/lib/libsyms.so.1\n'),
  symsMusl: `FROM ${HOST_MUSL}\nCOPY libsyms.so.1 /usr/lib/libsyms.so.1\n`,
};

// A local IFUNC, called: the linker leaves an R_X86_64_IRELATIVE for the loader, which musl does not apply.
const IFUNC = 'static int value_impl(void) { return 1; }\nstatic int (*resolve_value(void))(void) { return value_impl; }\nstatic int value_ifunc(void) __attribute__((ifunc("resolve_value")));\nint Value(void) { return value_ifunc(); }\n';
const COSINE = '#include <math.h>\nvolatile double x = 0.5;\nint Value(void) { return (int)(cos(x) * 100); }\n';
const ieTls = (bytes: number) => `static __thread char buf[${bytes}] __attribute__((tls_model("initial-exec")));\nint Value(void) { buf[0]++; return buf[${bytes} - 1]; }\n`;
const calls = (fn: string) => `int ${fn}(void);\nint Value(void) { return ${fn}(); }\n`;
const DEV_LIBS = (name: string) => ['-L/opt/l', `-l${name}`];

interface Cell {
  rule: string;
  plugins: () => BuiltCPlugins;
  plugin: string;
  image: string;
  expected: Outcome;
  /**
   * Default: dlopen-check loads the deployed file (verify --loader-program dlopen-check
   * --loads-by-path); koffi: the image's node does (verify --loads-by-path, the image's program);
   * runtime: the host service loads its sealed copy (verify's default).
   */
  loader?: 'runtime' | 'koffi';
}

describe.skipIf(skipDocker)('loader rules: a cell per rule, predicted by verify and really loaded (real engine)', () => {
  let glibc: BuiltCPlugins;
  let origin: BuiltCPlugins;
  let musl: BuiltCPlugins;
  let arm64: BuiltCPlugins;
  const patched: Record<string, BuiltCPlugins> = {};

  beforeAll(async () => {
    await requireDocker();
    const files = await hostLibraries();
    for (const [key, dockerfile] of Object.entries(IMAGES)) await buildTestImage(IMG[key as keyof typeof IMG], dockerfile, files);

    // Most cells are plugins that must not load: the build's proof would refuse them (--no-prove).
    glibc = await buildCPlugins(IMG.dev, [
      { name: 'depuser', source: calls('depa_value'), libs: DEV_LIBS('depa') },
      { name: 'rpathuser', source: calls('depa_value'), libs: DEV_LIBS('depa'), cflags: ['-Wl,--disable-new-dtags,-rpath,/opt/r'] },
      { name: 'runpathuser', source: calls('depa_value'), libs: DEV_LIBS('depa'), cflags: ['-Wl,--enable-new-dtags,-rpath,/opt/r'] },
      { name: 'solouser', source: calls('solo_value'), libs: DEV_LIBS('solo') },
      { name: 'depbuser', source: calls('depb_value'), libs: DEV_LIBS('depb') },
      { name: 'foouser', source: calls('foo'), libs: DEV_LIBS('foo') },
      { name: 'weakref', source: 'extern int absent(void) __attribute__((weak));\nint Value(void) { return absent ? absent() : 1; }\n' },
      { name: 'noopen', source: 'int Value(void) { return 1; }\n', cflags: ['-Wl,-z,nodlopen'] },
      { name: 'tlssmall', source: ieTls(64) },
      { name: 'tlsbig', source: ieTls(65536) },
      // Node's own start-up TLS (node, libc, libstdc++ …) leaves 1696 bytes of the surplus on these images.
      { name: 'tls1696', source: ieTls(1696) },
      { name: 'tls1697', source: ieTls(1697) },
      { name: 'isa', source: 'int Value(void) { return 1; }\n', cflags: ['-Wl,-z,x86-64-v2'] },
      { name: 'plain', source: 'int Value(void) { return 1; }\n' },
      { name: 'ifunc', source: IFUNC },
      // cos() without -lm: it binds only where the loading process already has libm.
      { name: 'cosine', source: COSINE },
      {
        name: 'relr',
        source: '#include <stdlib.h>\nstatic int a, b, c;\nint *ptrs[] = { &a, &b, &c, &a, &b, &c };\nint Value(void) { return abs(*ptrs[2]) + atoi("1"); }\n',
        cflags: ['-Wl,-z,pack-relative-relocs'],
      },
    ], undefined, ['--no-prove']);
    origin = await buildCPlugins(IMG.dev, [{ name: 'originuser', source: calls('solo_value'), libs: DEV_LIBS('solo'), cflags: ['-Wl,-rpath,$ORIGIN/deps'] }], undefined, ['--no-prove']);
    musl = await buildCPlugins(HOST_MUSL, [{ name: 'tlsmusl', source: ieTls(64) }, { name: 'ifuncmusl', source: IFUNC }], BASE_TRIXIE, ['--no-prove']);
    // aarch64's tables, compiled under qemu by the arm64 builder; without libc, the same bytes go to glibc's loader and musl's.
    arm64 = await buildCPlugins(HOST_ARM64, [
      { name: 'ifunc64', source: IFUNC, cflags: ['-nostdlib'] },
      { name: 'tlsdesc64', source: 'static __thread int counter;\nint Value(void) { return ++counter; }\n', cflags: ['-nostdlib'] },
      { name: 'tlssmall64', source: ieTls(64), cflags: ['-nostdlib'] },
      { name: 'tlsbig64', source: ieTls(65536), cflags: ['-nostdlib'] },
      // Node on aarch64 (TLS_DTV_AT_TP): koffi's addon, dlopen()ed first, puts its 401-byte TLS block
      // into the surplus through TLS descriptors (TRY_STATIC_TLS): 1248 bytes are left, not 1680.
      { name: 'tls1248arm', source: ieTls(1248), cflags: ['-nostdlib'] },
      { name: 'tls1249arm', source: ieTls(1249), cflags: ['-nostdlib'] },
    ], undefined, ['--no-prove']);

    const plain = await glibc.bytes('plain');
    const patch = (edit: (b: Buffer) => void) => {
      const copy = Buffer.from(plain);
      edit(copy);
      return copy;
    };
    patched.freebsd = await relocked(glibc, 'plain', patch((b) => (b[7] = 9)));
    patched.abi3 = await relocked(glibc, 'plain', patch((b) => ((b[7] = 3), (b[8] = 3))));
    patched.abi4 = await relocked(glibc, 'plain', patch((b) => ((b[7] = 3), (b[8] = 4))));
    const isa = Buffer.from(await glibc.bytes('isa'));
    const property = isa.indexOf(Buffer.from([0x02, 0x80, 0x00, 0xc0, 0x04, 0x00, 0x00, 0x00]));
    expect(property).toBeGreaterThan(0);
    isa.writeUInt32LE(16, property + 8);
    patched.isaFuture = await relocked(glibc, 'isa', isa);
    const relr = Buffer.from(await glibc.bytes('relr'));
    renameVersionNeed(relr, 'GLIBC_ABI_DT_RELR', 'GLIBC_2.2.5');
    patched.relrWithoutNeed = await relocked(glibc, 'relr', relr);
    // Its DT_NEEDED libdepb.so.1 made DT_DEBUG: the DEPB_1 need stays, nothing loads libdepb.
    const depb = Buffer.from(await glibc.bytes('depbuser'));
    retagNeeded(depb, 'libdepb.so.1', 21);
    patched.versionNeedUnloaded = await relocked(glibc, 'depbuser', depb);
    await src('main.c', 'int Value(void) { return 1; }\nint main(void) { return Value(); }\n');
    gcc('pie', ['-pie', '-fPIE', '-rdynamic', 'main.c']);
    gcc('nopie', ['-no-pie', '-rdynamic', 'main.c']);
    patched.pie = await relocked(glibc, 'plain', await readFile(join(work, 'pie')));
    patched.exec = await relocked(glibc, 'plain', await readFile(join(work, 'nopie')));
    for (const user of ['ifunc', 'vis', 'local', 'abs', 'own']) {
      const bytes = await readFile(join(work, `${user}-user.so`));
      patched[`${user}Glibc`] = await relocked(glibc, 'plain', bytes);
      patched[`${user}Musl`] = await relocked(musl, 'tlsmusl', bytes);
    }
  }, 900_000);

  afterAll(() => rm(work, { recursive: true, force: true }));

  const hasV2 = ABOUT_THE_CPU?.hwcaps.includes('x86-64-v2') ?? false;
  const CELLS: Cell[] = [
    { rule: "a dependency's own dependency is missing", plugins: () => glibc, plugin: 'depuser', image: IMG.noDepB, expected: 'fails' },
    { rule: "a dependency's own version need is missing (DEPB_2)", plugins: () => glibc, plugin: 'depuser', image: IMG.depVersion, expected: 'fails' },
    { rule: "a dependency's own version need is there (control)", plugins: () => glibc, plugin: 'depuser', image: IMG.depVersionOk, expected: 'loads' },
    { rule: "a dependency's own undefined symbol is defined nowhere", plugins: () => glibc, plugin: 'depuser', image: IMG.depSymbol, expected: 'fails' },
    { rule: 'DT_RPATH is inherited by the dependencies', plugins: () => glibc, plugin: 'rpathuser', image: IMG.rpathDir, expected: 'loads' },
    { rule: 'DT_RUNPATH is not inherited by the dependencies', plugins: () => glibc, plugin: 'runpathuser', image: IMG.rpathDir, expected: 'fails' },
    { rule: 'DT_RUNPATH $ORIGIN, the deployed file loaded by path', plugins: () => origin, plugin: 'originuser', image: IMG.origin, expected: 'loads' },
    { rule: "DT_RUNPATH $ORIGIN, the host runtime's sealed copy (/proc/self/fd)", plugins: () => origin, plugin: 'originuser', image: IMG.origin, expected: 'fails', loader: 'runtime' },
    { rule: 'a dependency with an invalid OS ABI (the same header checks as the plugin)', plugins: () => glibc, plugin: 'solouser', image: IMG.depHeader, expected: 'fails' },
    { rule: 'a version need naming a library nothing loads (dl-version.c assertion)', plugins: () => patched.versionNeedUnloaded!, plugin: 'depbuser', image: IMG.depVersionOk, expected: 'crashes' },
    { rule: 'a candidate of another ELF class is passed over', plugins: () => glibc, plugin: 'solouser', image: IMG.otherClass, expected: 'loads' },
    { rule: "ld.so.cache's glibc-hwcaps entry for the CPU's level comes first", plugins: () => glibc, plugin: 'solouser', image: IMG.hwcaps, expected: hasV2 ? 'fails' : 'loads' },
    { rule: 'legacy hwcaps subdirectory tls/ is searched first (glibc 2.36)', plugins: () => glibc, plugin: 'solouser', image: IMG.legacy, expected: 'fails' },
    { rule: 'legacy hwcaps subdirectories are gone (glibc 2.41)', plugins: () => glibc, plugin: 'solouser', image: IMG.legacyTrixie, expected: 'loads' },
    { rule: 'an unversioned reference does not bind a hidden foo@V1 at version index 3', plugins: () => glibc, plugin: 'foouser', image: IMG.hiddenVersion, expected: 'fails' },
    { rule: 'an unversioned reference binds a hidden foo@V1 at version index 2', plugins: () => glibc, plugin: 'foouser', image: IMG.indexTwo, expected: 'loads' },
    { rule: 'a weak undefined reference defined nowhere', plugins: () => glibc, plugin: 'weakref', image: IMG.base, expected: 'loads' },
    { rule: 'DF_1_NOOPEN (-z nodlopen)', plugins: () => glibc, plugin: 'noopen', image: IMG.base, expected: 'fails' },
    { rule: 'a position-independent executable', plugins: () => patched.pie!, plugin: 'plain', image: IMG.base, expected: 'fails' },
    { rule: 'a non-PIE executable (ET_EXEC)', plugins: () => patched.exec!, plugin: 'plain', image: IMG.base, expected: 'fails' },
    { rule: 'EI_OSABI FreeBSD', plugins: () => patched.freebsd!, plugin: 'plain', image: IMG.base, expected: 'fails' },
    { rule: 'EI_OSABI GNU, EI_ABIVERSION 3 (below LIBC_ABI_MAX)', plugins: () => patched.abi3!, plugin: 'plain', image: IMG.base, expected: 'loads' },
    { rule: 'EI_OSABI GNU, EI_ABIVERSION 4 (LIBC_ABI_MAX on x86_64)', plugins: () => patched.abi4!, plugin: 'plain', image: IMG.baseTrixie, expected: 'fails' },
    { rule: 'an x86 ISA level the CPU has (x86-64-v2 note)', plugins: () => glibc, plugin: 'isa', image: IMG.base, expected: hasV2 ? 'loads' : 'fails' },
    { rule: 'an x86 ISA level bit no CPU has', plugins: () => patched.isaFuture!, plugin: 'isa', image: IMG.base, expected: 'fails' },
    { rule: 'initial-exec TLS within the static TLS surplus', plugins: () => glibc, plugin: 'tlssmall', image: IMG.base, expected: 'loads' },
    { rule: 'initial-exec TLS beyond the static TLS surplus (glibc 2.36)', plugins: () => glibc, plugin: 'tlsbig', image: IMG.base, expected: 'fails' },
    { rule: 'initial-exec TLS beyond the static TLS surplus (glibc 2.41)', plugins: () => glibc, plugin: 'tlsbig', image: IMG.baseTrixie, expected: 'fails' },
    { rule: "initial-exec TLS that exactly fits what node's start-up leaves (glibc 2.36)", plugins: () => glibc, plugin: 'tls1696', image: HOST_BOOKWORM, expected: 'loads', loader: 'koffi' },
    { rule: "initial-exec TLS one byte over what node's start-up leaves (glibc 2.36)", plugins: () => glibc, plugin: 'tls1697', image: HOST_BOOKWORM, expected: 'fails', loader: 'koffi' },
    { rule: "initial-exec TLS that exactly fits what node's start-up leaves (glibc 2.41)", plugins: () => glibc, plugin: 'tls1696', image: HOST_TRIXIE, expected: 'loads', loader: 'koffi' },
    { rule: "initial-exec TLS one byte over what node's start-up leaves (glibc 2.41)", plugins: () => glibc, plugin: 'tls1697', image: HOST_TRIXIE, expected: 'fails', loader: 'koffi' },
    { rule: "the image's GLIBC_TUNABLES enlarge the static TLS surplus", plugins: () => glibc, plugin: 'tls1697', image: IMG.tunables, expected: 'loads', loader: 'koffi' },
    { rule: 'DT_RELR with its GLIBC_ABI_DT_RELR need', plugins: () => glibc, plugin: 'relr', image: IMG.baseTrixie, expected: 'loads' },
    { rule: 'DT_RELR without a GLIBC_ABI_DT_RELR need', plugins: () => patched.relrWithoutNeed!, plugin: 'relr', image: IMG.baseTrixie, expected: 'fails' },
    { rule: 'initial-exec TLS of a dlopen()ed object on musl', plugins: () => musl, plugin: 'tlsmusl', image: HOST_MUSL, expected: 'fails' },
    { rule: 'an IFUNC (R_X86_64_IRELATIVE): glibc applies it', plugins: () => glibc, plugin: 'ifunc', image: IMG.base, expected: 'loads' },
    { rule: 'an IFUNC (R_X86_64_IRELATIVE): musl does not ("unsupported relocation type 37")', plugins: () => musl, plugin: 'ifuncmusl', image: HOST_MUSL, expected: 'fails' },
    { rule: 'a definition of type STT_GNU_IFUNC: glibc binds it (ALLOWED_STT)', plugins: () => patched.ifuncGlibc!, plugin: 'plain', image: IMG.symsGlibc, expected: 'loads' },
    { rule: 'a definition of type STT_GNU_IFUNC: musl passes over it (OK_TYPES)', plugins: () => patched.ifuncMusl!, plugin: 'tlsmusl', image: IMG.symsMusl, expected: 'fails' },
    { rule: 'an absolute (SHN_ABS) definition of value 0: glibc binds it', plugins: () => patched.absGlibc!, plugin: 'plain', image: IMG.symsGlibc, expected: 'loads' },
    { rule: 'an absolute (SHN_ABS) definition of value 0: musl takes value 0 as undefined', plugins: () => patched.absMusl!, plugin: 'tlsmusl', image: IMG.symsMusl, expected: 'fails' },
    { rule: 'a GLOBAL definition of hidden visibility: glibc treats it as local', plugins: () => patched.visGlibc!, plugin: 'plain', image: IMG.symsGlibc, expected: 'fails' },
    { rule: 'a GLOBAL definition of hidden visibility: musl never reads st_other', plugins: () => patched.visMusl!, plugin: 'tlsmusl', image: IMG.symsMusl, expected: 'loads' },
    { rule: "the plugin's own exported IFUNC, called through its PLT: glibc binds it to itself", plugins: () => patched.ownGlibc!, plugin: 'plain', image: IMG.symsGlibc, expected: 'loads' },
    { rule: "the plugin's own exported IFUNC, called through its PLT: musl's lookup passes over it", plugins: () => patched.ownMusl!, plugin: 'tlsmusl', image: IMG.symsMusl, expected: 'fails' },
    { rule: 'a LOCAL definition in .dynsym: glibc ignores it', plugins: () => patched.localGlibc!, plugin: 'plain', image: IMG.symsGlibc, expected: 'fails' },
    { rule: 'a LOCAL definition in .dynsym: musl ignores it (OK_BINDS)', plugins: () => patched.localMusl!, plugin: 'tlsmusl', image: IMG.symsMusl, expected: 'fails' },
    { rule: 'aarch64: an IFUNC (R_AARCH64_IRELATIVE): glibc applies it', plugins: () => arm64, plugin: 'ifunc64', image: HOST_ARM64, expected: 'loads', loader: 'koffi' },
    { rule: 'aarch64: an IFUNC (R_AARCH64_IRELATIVE): musl does not ("unsupported relocation type 1032")', plugins: () => arm64, plugin: 'ifunc64', image: HOST_MUSL_ARM64, expected: 'fails' },
    { rule: 'aarch64: a TLS descriptor (R_AARCH64_TLSDESC): glibc applies it', plugins: () => arm64, plugin: 'tlsdesc64', image: HOST_ARM64, expected: 'loads', loader: 'koffi' },
    { rule: 'aarch64: a TLS descriptor (R_AARCH64_TLSDESC): musl applies it', plugins: () => arm64, plugin: 'tlsdesc64', image: HOST_MUSL_ARM64, expected: 'loads' },
    { rule: 'aarch64: initial-exec TLS within the static TLS surplus (TLS_DTV_AT_TP layout)', plugins: () => arm64, plugin: 'tlssmall64', image: HOST_ARM64, expected: 'loads', loader: 'koffi' },
    { rule: 'aarch64: initial-exec TLS beyond the static TLS surplus', plugins: () => arm64, plugin: 'tlsbig64', image: HOST_ARM64, expected: 'fails', loader: 'koffi' },
    { rule: "aarch64: initial-exec TLS that exactly fits what node's start-up and koffi's TLS descriptors leave (glibc 2.36)", plugins: () => arm64, plugin: 'tls1248arm', image: HOST_ARM64, expected: 'loads', loader: 'koffi' },
    { rule: "aarch64: initial-exec TLS one byte over what node's start-up and koffi's TLS descriptors leave (glibc 2.36)", plugins: () => arm64, plugin: 'tls1249arm', image: HOST_ARM64, expected: 'fails', loader: 'koffi' },
    { rule: 'aarch64: initial-exec TLS of a dlopen()ed object on musl', plugins: () => arm64, plugin: 'tlssmall64', image: HOST_MUSL_ARM64, expected: 'fails' },
    { rule: 'cos() without -lm, nothing preloaded: undefined symbol', plugins: () => glibc, plugin: 'cosine', image: IMG.base, expected: 'fails' },
    { rule: 'LD_PRELOAD in the image Env is in the global scope before the plugin', plugins: () => glibc, plugin: 'cosine', image: IMG.preloadEnv, expected: 'loads' },
    { rule: '/etc/ld.so.preload is in the global scope before the plugin', plugins: () => glibc, plugin: 'cosine', image: IMG.preloadFile, expected: 'loads' },
    { rule: "LD_LIBRARY_PATH entries separated by ';'", plugins: () => glibc, plugin: 'solouser', image: IMG.llpSemicolon, expected: 'loads' },
    { rule: 'an empty LD_LIBRARY_PATH entry is the working directory', plugins: () => glibc, plugin: 'solouser', image: IMG.llpEmpty, expected: 'loads' },
    { rule: 'a relative LD_LIBRARY_PATH entry is relative to the working directory', plugins: () => glibc, plugin: 'solouser', image: IMG.llpRelative, expected: 'loads' },
  ];

  it('every cell: prediction equals the real load', async () => {
    const rows: string[] = [];
    const disagreements: string[] = [];
    for (const cell of CELLS) {
      const built = cell.plugins();
      const byPath = cell.loader === 'runtime' ? [] : cell.loader === 'koffi' ? ['--loads-by-path'] : ['--loader-program', DLOPEN_CHECK, '--loads-by-path'];
      const verify = await cli(built.dir, ['verify', '--image', cell.image, '--lock', built.lock, '--dir', built.dir, '--json', ...byPath]);
      expect([0, 1], verify.stderr).toContain(verify.code);
      const report = JSON.parse(verify.stdout) as { plugins: Array<{ name: string; outcome: Outcome; problems: Array<{ check: string; message: string }> }> };
      const verdict = report.plugins.find((p) => p.name === cell.plugin)!;
      const why = verdict.problems.filter((p) => p.check !== 'environment').map((p) => `${p.check}: ${p.message}`).join('; ') || 'ok';

      let real: Outcome;
      let said: string;
      if (cell.loader === 'runtime') {
        const host = await startHostContainer(cell.image, built.dir);
        try {
          const status = (await host.get('/plugins')).body.plugins?.find((p) => p.name === cell.plugin);
          real = status?.status === 'loaded' ? 'loads' : 'fails';
          said = status?.reason ?? String(status?.status);
        } finally {
          await host.stop();
        }
      } else {
        const path = `/app/plugins/lib${cell.plugin}.so`;
        const load = await runWithFile(cell.image, { path, data: await built.bytes(cell.plugin) }, cell.loader === 'koffi' ? ['node', '-e', KOFFI_LOAD, path] : [DLOPEN_CHECK, path]);
        real = load.exitCode === 0 ? 'loads' : load.exitCode === 127 && load.output.includes('Inconsistency detected by ld.so') ? 'crashes' : 'fails';
        said = load.output;
      }
      rows.push(`${cell.rule}: predicted ${verdict.outcome} (${why}); real ${real} (${said})`);
      expect(real, `${cell.rule}: reality (${said})`).toBe(cell.expected);
      if (verdict.outcome !== real) disagreements.push(`${cell.rule}: predicted ${verdict.outcome} (${why}), real ${real} (${said})`);
    }
    console.log('\n' + rows.join('\n') + '\n');
    expect(disagreements).toEqual([]);
  }, 900_000);
});
