import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { HOST_BOOKWORM, HOST_TRIXIE, requireDocker, skipDocker } from '../helpers/docker.js';
import { buildTestImage, runWithFile } from '../helpers/images.js';
import { buildCPlugins } from '../helpers/c-plugins.js';
import { cli } from '../helpers/project.js';

/**
 * Where the loader finds a library, judged by verify and by a real load: a vendor library in a
 * directory registered with ldconfig, one copied into /usr/local/lib without ldconfig, one
 * reached through the image's ENV LD_LIBRARY_PATH, a non-ELF file first on the path.
 */
const VENDOR_DEV = 'plugin-builder/test-vendor-dev:bookworm';

interface Cell {
  what: string;
  image: string;
  dockerfile: string;
  loads: boolean;
}

// The host image runs as uid 10001: installing files and running ldconfig needs root.
const FROM = `FROM ${HOST_BOOKWORM}\n`;
const CELLS: Cell[] = [
  {
    what: 'vendor library in /opt/vendor/lib registered with ldconfig',
    image: VENDOR_DEV,
    dockerfile: `${FROM}USER root\nCOPY libvendor.so.1 /opt/vendor/lib/\nRUN ln -s libvendor.so.1 /opt/vendor/lib/libvendor.so && echo /opt/vendor/lib > /etc/ld.so.conf.d/vendor.conf && ldconfig\nUSER 10001\n`,
    loads: true,
  },
  {
    what: 'vendor library copied into /usr/local/lib without ldconfig',
    image: 'plugin-builder/test-vendor-nocache:bookworm',
    dockerfile: `${FROM}COPY libvendor.so.1 /usr/local/lib/\n`,
    loads: false,
  },
  {
    what: "vendor library found through the image's ENV LD_LIBRARY_PATH",
    image: 'plugin-builder/test-vendor-env:bookworm',
    dockerfile: `${FROM}COPY libvendor.so.1 /opt/envlib/\nENV LD_LIBRARY_PATH=/opt/envlib\n`,
    loads: true,
  },
  {
    what: 'a non-ELF file of that name first on LD_LIBRARY_PATH (the real one in the cache)',
    image: 'plugin-builder/test-vendor-bogus:bookworm',
    dockerfile: `FROM ${VENDOR_DEV}\nUSER root\nRUN mkdir -p /opt/bogus && echo 'not a library, but long enough to be read as an ELF header by the loader....' > /opt/bogus/libvendor.so.1\nENV LD_LIBRARY_PATH=/opt/bogus\nUSER 10001\n`,
    loads: false,
  },
  { what: 'no vendor library at all', image: HOST_BOOKWORM, dockerfile: '', loads: false },
];

const KOFFI_LOAD = "try { require('/app/node_modules/koffi').load(process.argv[1]); console.log('loaded') } catch (e) { console.error(e.message); process.exit(1) }";

/** One C plugin `name` whose `Value()` returns `calls()`, a function of a library linked with `libs`. */
async function buildCallingPlugin(host: string, name: string, calls: string, libs: string[]): Promise<{ dir: string; lock: string; bytes: Buffer }> {
  const built = await buildCPlugins(host, [{ name, source: `int ${calls}(void);\nint Value(void) { return ${calls}(); }\n`, libs }]);
  return { dir: built.dir, lock: built.lock, bytes: await built.bytes(name) };
}

describe.skipIf(skipDocker)('library search: verify predicts where the loader finds a library (real engine, real loads)', () => {
  let plugin: { dir: string; lock: string; bytes: Buffer };

  beforeAll(async () => {
    await requireDocker();
    const work = await mkdtemp(join(tmpdir(), 'pb-vendor-'));
    await writeFile(join(work, 'vendor.c'), 'int vendor_value(void) { return 42; }\n');
    // This machine's gcc and glibc (Debian 12, 2.36) are the bookworm image's.
    execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-Wl,-soname,libvendor.so.1', '-o', join(work, 'libvendor.so.1'), join(work, 'vendor.c')]);
    const libvendor = await readFile(join(work, 'libvendor.so.1'));
    for (const cell of CELLS) if (cell.dockerfile) await buildTestImage(cell.image, cell.dockerfile, { 'libvendor.so.1': libvendor });

    plugin = await buildCallingPlugin(VENDOR_DEV, 'vend', 'vendor_value', ['-L/opt/vendor/lib', '-lvendor']);
  });

  it('every cell: prediction equals the real load', async () => {
    const rows: string[] = [];
    const disagreements: string[] = [];
    for (const cell of CELLS) {
      const verify = await cli(plugin.dir, ['verify', '--image', cell.image, '--lock', plugin.lock, '--dir', plugin.dir, '--json']);
      const report = JSON.parse(verify.stdout) as { plugins: Array<{ bytes: string; loadable: boolean | null; problems: Array<{ check: string; message: string }> }> };
      const verdict = report.plugins[0]!;
      const predicted = verdict.bytes === 'ok' && verdict.loadable === true;
      const path = '/app/plugins/libvend.so';
      const load = await runWithFile(cell.image, { path, data: plugin.bytes }, ['node', '-e', KOFFI_LOAD, path]);
      const real = load.exitCode === 0;
      rows.push(`${cell.what}: predicted ${predicted ? 'loads' : 'fails'} (${verdict.problems.filter((p) => p.check !== 'environment').map((p) => p.message).join('; ') || 'ok'}); real ${real ? 'loads' : 'fails'} (${load.output})`);
      expect(real, `${cell.what}: reality (${load.output})`).toBe(cell.loads);
      if (predicted !== real) disagreements.push(cell.what);
    }
    console.log('\n' + rows.join('\n') + '\n');
    expect(disagreements).toEqual([]);
  }, 300_000);
});

describe.skipIf(skipDocker)('crashes the process: a versioned reference to a library without symbol versions (real engine, real loads)', () => {
  const DEV = 'plugin-builder/test-nov-dev:bookworm';
  const PLAIN = 'plugin-builder/test-nov-plain:bookworm';
  const PLAIN_TRIXIE = 'plugin-builder/test-nov-plain:trixie';
  let plugin: { dir: string; lock: string; bytes: Buffer };

  beforeAll(async () => {
    await requireDocker();
    const work = await mkdtemp(join(tmpdir(), 'pb-nov-'));
    await writeFile(join(work, 'nov.c'), 'int nov_value(void) { return 7; }\n');
    await writeFile(join(work, 'nov.map'), 'NOV_1 { global: nov_value; local: *; };\n');
    const gcc = (out: string, extra: string[]) =>
      execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-Wl,-soname,libnov.so.1', '-o', join(work, out), join(work, 'nov.c'), ...extra]);
    gcc('versioned.so', [`-Wl,--version-script=${join(work, 'nov.map')}`]);
    gcc('plain.so', []);
    const install = (file: string, host = HOST_BOOKWORM) =>
      `FROM ${host}\nUSER root\nCOPY ${file} /opt/nov/lib/libnov.so.1\nRUN ln -s libnov.so.1 /opt/nov/lib/libnov.so && echo /opt/nov/lib > /etc/ld.so.conf.d/nov.conf && ldconfig\nUSER 10001\n`;
    await buildTestImage(DEV, install('versioned.so'), { 'versioned.so': await readFile(join(work, 'versioned.so')) });
    await buildTestImage(PLAIN, install('plain.so'), { 'plain.so': await readFile(join(work, 'plain.so')) });
    await buildTestImage(PLAIN_TRIXIE, install('plain.so', HOST_TRIXIE), { 'plain.so': await readFile(join(work, 'plain.so')) });

    plugin = await buildCallingPlugin(DEV, 'novp', 'nov_value', ['-L/opt/nov/lib', '-lnov']);
  });

  it.each([
    [DEV, 'loads'],
    [PLAIN, 'crashes'],
    // glibc 2.41 dropped check_match's version assertion (bdaf500353): the same reference binds.
    [PLAIN_TRIXIE, 'loads'],
  ] as const)('against %s: predicted and real %s', async (image, expected) => {
    const verify = await cli(plugin.dir, ['verify', '--image', image, '--lock', plugin.lock, '--dir', plugin.dir, '--json']);
    const verdict = (JSON.parse(verify.stdout) as { plugins: Array<{ outcome: string; problems: Array<{ check: string; message: string }> }> }).plugins[0]!;
    const load = await runWithFile(image, { path: '/app/plugins/libnovp.so', data: plugin.bytes }, ['node', '-e', KOFFI_LOAD, '/app/plugins/libnovp.so']);
    const real = load.exitCode === 0 ? 'loads' : /Inconsistency detected by ld\.so: dl-lookup\.c: \d+: check_match: Assertion/.test(load.output) ? 'crashes' : 'fails';
    expect(real, load.output).toBe(expected);
    expect(verdict.outcome, JSON.stringify(verdict.problems)).toBe(expected);
    if (expected === 'crashes') expect(load.exitCode).toBe(127);
  });
});
