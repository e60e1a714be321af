import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, readdir, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BadCallError } from '../../../src/errors.js';
import { FileSealer } from '../../../src/runtime/file-sealer.js';
import type { NativeLoader } from '../../../src/runtime/native-loader.js';
import { PluginHost, type PluginHostOptions } from '../../../src/runtime/plugin-host.js';
import type { Sealer } from '../../../src/runtime/sealer.js';
import { generateSigningKeyPair, parseSigningKey, parseTrustedKey } from '../../../src/trust/keys.js';
import { signLockfile } from '../../../src/trust/lockfile-signature.js';
import { parseLockfile } from '../../../src/lock/lockfile.js';
import { ENV, deploy, fakeLoader, sha, tempDir, writeLock } from '../../helpers/fake-plugins.js';

const hosts: PluginHost[] = [];
async function open(dir: string, loader: NativeLoader = fakeLoader(), extra: Partial<PluginHostOptions> = {}) {
  const host = await PluginHost.open({ pluginDir: dir, loader, sealer: new FileSealer(await tempDir('pb-seal-')), liveEnvironment: ENV, ...extra });
  hosts.push(host);
  return host;
}
afterEach(async () => {
  await Promise.all(hosts.splice(0).map((h) => h.close()));
});

const status = (f: () => unknown) => {
  try {
    f();
  } catch (err) {
    return (err as BadCallError).status;
  }
  return 200;
};

describe('PluginHost: verified loading', () => {
  it('loads the sealed private copy of the verified bytes and binds the manifest functions', async () => {
    const dir = await deploy({ 'libgreet.so': 'GREET:1.0.0:0' });
    const loader = fakeLoader();
    const host = await open(dir, loader);
    expect(host.plugins()).toEqual([
      { name: 'greet', status: 'loaded', file: 'libgreet.so', sha256: sha('GREET:1.0.0:0'), version: '1.0.0', functions: ['Add', 'Big', 'Echo'] },
    ]);
    expect(host.report()).toMatchObject({ trust: 'unsigned', lockfile: { status: 'accepted' } });
    expect(host.call('greet', 'Add', [2, 3])).toBe(5);
    const [path] = loader.paths;
    expect(path?.startsWith(dir)).toBe(false);
    expect(readFileSync(path!, 'utf8')).toBe('GREET:1.0.0:0');
  });

  it('rejects changed bytes and unlisted .so files without loading them', async () => {
    const dir = await deploy({ 'libgreet.so': 'GREET:1.0.0:0', 'libextra.so': 'X' }, { 'libgreet.so': 'GREET:1.0.0:1' });
    const loader = fakeLoader();
    const host = await open(dir, loader);
    const [greet, extra] = host.plugins();
    expect(greet).toMatchObject({ status: 'rejected', code: 'HASH_MISMATCH' });
    expect(greet?.reason).toContain(sha('GREET:1.0.0:0'));
    expect(greet?.reason).toContain(sha('GREET:1.0.0:1'));
    expect(extra).toMatchObject({ name: 'libextra.so', status: 'rejected', code: 'UNKNOWN_PLUGIN' });
    expect(loader.paths).toEqual([]);
  });

  it('refuses everything on an environment mismatch; the override loads and warns loudly', async () => {
    const dir = await deploy({ 'libgreet.so': 'GREET:1.0.0:0' });
    const live = { ...ENV, libc: { family: 'glibc' as const, version: '2.41' } };
    const refused = await open(dir, fakeLoader(), { liveEnvironment: live });
    expect(refused.plugins()[0]).toMatchObject({ status: 'rejected', code: 'ENVIRONMENT_MISMATCH' });
    expect(refused.plugins()[0]?.reason).toContain('libc.version: 2.36 → 2.41');
    const warnings: string[] = [];
    const forced = await open(dir, fakeLoader(), { liveEnvironment: live, allowEnvironmentMismatch: true, log: (level, m) => level === 'warn' && warnings.push(m) });
    expect(forced.plugins()[0]?.status).toBe('loaded');
    expect(warnings.join('\n')).toContain('OVERRIDDEN');
  });

  it('reload: unchanged is not loaded twice; a new version loads from a new path; a bad update keeps the old one', async () => {
    const dir = await deploy({ 'libgreet.so': 'GREET:1.0.0:0' });
    const loader = fakeLoader();
    const host = await open(dir, loader);
    await Promise.all([host.reload(), host.reload(), host.reload()]);
    expect(loader.paths).toHaveLength(1);
    // Requests made while one reload runs share one waiting reload: the queue never grows.
    const burst = Array.from({ length: 50 }, () => host.reload());
    expect(new Set(burst).size).toBeLessThanOrEqual(2);
    await Promise.all(burst);

    await writeFile(join(dir, 'libgreet.so'), 'GREET:2.0.0:1000');
    await writeLock(dir, { 'libgreet.so': 'GREET:2.0.0:1000' });
    await host.reload();
    expect(loader.paths).toHaveLength(2);
    expect(loader.paths[1]).not.toBe(loader.paths[0]);
    expect(host.call('greet', 'Add', [1, 2])).toBe(1003);

    await writeLock(dir, { 'libgreet.so': 'GREET:3.0.0:50000' }); // bytes on disk are still v2 (another size)
    const [status1] = (await host.reload()).plugins;
    expect(status1).toMatchObject({ status: 'loaded', version: '2.0.0', code: 'SIZE_MISMATCH' });
    expect(status1?.reason).toContain('rejected');
    expect(host.call('greet', 'Add', [1, 2])).toBe(1003);

    await writeLock(dir, {}); // greet removed from the lockfile: no longer callable
    await host.reload();
    expect(() => host.call('greet', 'Add', [1, 2])).toThrow(/no plugin "greet" is loaded/);

    // Back to v1: the version loaded before is reused, never dlopen'ed a second time.
    await writeFile(join(dir, 'libgreet.so'), 'GREET:1.0.0:0');
    await writeLock(dir, { 'libgreet.so': 'GREET:1.0.0:0' });
    await host.reload();
    expect(host.call('greet', 'Add', [1, 2])).toBe(3);
    expect(loader.paths).toHaveLength(2);
  });

  it('rejects a wrong manifest name and a failing dlopen with the loader message', async () => {
    const dir = await deploy({ 'libgreet.so': 'GREET:1.0.0:0:impostor', 'libbad.so': 'BROKEN' });
    const host = await open(dir);
    const byName = new Map(host.plugins().map((p) => [p.name, p]));
    expect(byName.get('greet')).toMatchObject({ status: 'rejected', code: 'BAD_MANIFEST' });
    expect(byName.get('greet')?.reason).toContain('"impostor"');
    expect(byName.get('bad')).toMatchObject({ status: 'rejected', code: 'LOAD_FAILED' });
    expect(byName.get('bad')?.reason).toContain("GLIBC_2.38' not found");
  });

  it('rejects a manifest declaring a writable buffer, an out-parameter, a struct or a callback', async () => {
    for (const prototype of ['int Fill(char *buf, int n)', 'int Get(int *out)', 'int Use(struct s *p)', 'int Cb(int (*f)(int))', 'void *Alloc(size_t n)', 'int system(const char *command)']) {
      const dir = await deploy({ 'libgreet.so': `GREET:1.0.0:0:greet:${prototype}` });
      const host = await open(dir);
      expect(host.plugins()[0], prototype).toMatchObject({ status: 'rejected', code: 'BAD_MANIFEST' });
    }
  });

  it('call(): 404 for unknown plugins and functions, 400 for bad arguments; 64-bit values never become BigInt', async () => {
    const host = await open(await deploy({ 'libgreet.so': 'GREET:1.0.0:0' }));
    expect(status(() => host.call('nope', 'Add', []))).toBe(404);
    expect(status(() => host.call('greet', 'Nope', []))).toBe(404);
    expect(status(() => host.call('greet', 'Add', [1]))).toBe(400);
    expect(status(() => host.call('greet', 'Add', [1, 'x']))).toBe(400);
    expect(status(() => host.call('greet', 'Add', [2 ** 31, 0]))).toBe(400);
    // Big echoes an int64_t: numbers up to 2^53, decimal strings beyond; results likewise.
    expect(host.call('greet', 'Big', [42])).toBe(42);
    expect(host.call('greet', 'Big', ['9223372036854775807'])).toBe('9223372036854775807');
    expect(host.call('greet', 'Big', ['-9223372036854775808'])).toBe('-9223372036854775808');
    expect(status(() => host.call('greet', 'Big', ['9223372036854775808']))).toBe(400);
    expect(status(() => host.call('greet', 'Big', [2 ** 60]))).toBe(400);
    expect(status(() => host.call('greet', 'Big', ['1e3']))).toBe(400);
    expect(host.call('greet', 'Echo', ['héllo'])).toBe('héllo');
    expect(status(() => host.call('greet', 'Echo', ['a\0b']))).toBe(400);
  });

  it('treats "constructor", "toString" and "hasOwnProperty" as plugin names, not inherited properties', async () => {
    const dir = await deploy({ 'libconstructor.so': 'GREET:1.0.0:0:constructor', 'libtoString.so': 'GREET:1.0.0:0:toString' });
    const host = await open(dir);
    expect(host.plugins().map((p) => [p.name, p.status])).toEqual([['constructor', 'loaded'], ['toString', 'loaded']]);
    expect(status(() => host.call('hasOwnProperty', 'Add', [1, 2]))).toBe(404);
    await writeLock(dir, { 'libtoString.so': 'GREET:1.0.0:0:toString' });
    await host.reload();
    expect(status(() => host.call('constructor', 'Add', [1, 2]))).toBe(404);
    expect(host.call('toString', 'Add', [1, 2])).toBe(3);
  });
});

describe('PluginHost: special and hostile files', () => {
  it('refuses a FIFO, a symlink to /dev/zero, a directory and a file of the wrong size before reading a byte', async () => {
    const dir = await deploy({ 'libgreet.so': 'GREET:1.0.0:0' }, {
      'libgreet.so': 'GREET:1.0.0:0',
      'libfifo.so': 'GREET:1.0.0:0:fifo',
      'libzero.so': 'GREET:1.0.0:0:zero',
      'libdir.so': 'GREET:1.0.0:0:dir',
      'libhuge.so': 'GREET:1.0.0:0:huge',
      'libgone.so': 'GREET:1.0.0:0:gone',
    });
    execFileSync('mkfifo', [join(dir, 'libfifo.so')]);
    await symlink('/dev/zero', join(dir, 'libzero.so'));
    await mkdir(join(dir, 'libdir.so'));
    await writeFile(join(dir, 'libhuge.so'), '');
    await truncate(join(dir, 'libhuge.so'), 1024 ** 3); // sparse 1 GiB: never read
    const loader = fakeLoader();
    const started = performance.now();
    const host = await open(dir, loader);
    const seconds = (performance.now() - started) / 1000;
    const codes = new Map(host.plugins().map((p) => [p.name, p.code ?? p.status]));
    expect(Object.fromEntries(codes)).toEqual({
      dir: 'NOT_A_REGULAR_FILE',
      fifo: 'NOT_A_REGULAR_FILE',
      gone: 'FILE_MISSING',
      greet: 'loaded',
      huge: 'SIZE_MISMATCH',
      zero: 'NOT_A_REGULAR_FILE',
    });
    expect(host.plugins().find((p) => p.name === 'zero')?.reason).toContain('symbolic link');
    expect(host.plugins().find((p) => p.name === 'fifo')?.reason).toContain('FIFO');
    expect(loader.paths).toHaveLength(1);
    expect(seconds).toBeLessThan(5); // a blocking FIFO open or a 1 GiB read would not be
    // And a reload after them is not held up by any of them.
    await host.reload();
    expect(host.call('greet', 'Add', [1, 1])).toBe(2);
  });

  it('refuses the lockfile whole when it is missing, a FIFO, too large or lists too many plugins; what served keeps serving', async () => {
    const dir = await deploy({ 'libgreet.so': 'GREET:1.0.0:0' });
    const host = await open(dir, fakeLoader(), { limits: { maxLockfileBytes: 64 * 1024, maxPlugins: 3 } });
    expect(host.call('greet', 'Add', [1, 1])).toBe(2);
    const lockPath = join(dir, 'builder.lock.json');

    await rm(lockPath);
    expect((await host.reload()).lockfile).toMatchObject({ status: 'refused', code: 'LOCKFILE_MISSING' });
    expect(host.call('greet', 'Add', [1, 1])).toBe(2);

    execFileSync('mkfifo', [lockPath]);
    expect((await host.reload()).lockfile).toMatchObject({ status: 'refused', code: 'NOT_A_REGULAR_FILE' });
    await rm(lockPath);

    await writeFile(lockPath, ' '.repeat(64 * 1024 + 1));
    expect((await host.reload()).lockfile).toMatchObject({ status: 'refused', code: 'LOCKFILE_TOO_LARGE' });

    await writeLock(dir, Object.fromEntries(['a', 'b', 'c', 'd'].map((n) => [`lib${n}.so`, 'X'])));
    expect((await host.reload()).lockfile).toMatchObject({ status: 'refused', code: 'LOCKFILE_TOO_LARGE' });

    await writeFile(lockPath, '{"lockfileVersion":1');
    expect((await host.reload()).lockfile).toMatchObject({ status: 'refused', code: 'LOCKFILE_INVALID' });
    expect(host.call('greet', 'Add', [1, 1])).toBe(2);
    expect(host.plugins().map((p) => [p.name, p.status])).toEqual([['greet', 'loaded']]);
  });

  it('a reload stuck on a file is abandoned at its time limit, commits nothing, and the next reload runs', async () => {
    const dir = await deploy({ 'libgreet.so': 'GREET:1.0.0:0' });
    let stall = false;
    const inner = new FileSealer(await tempDir('pb-seal-'));
    const stallingSealer: Sealer = {
      kind: 'file',
      seal: (source, size, label, signal) => (stall ? new Promise(() => {}) : inner.seal(source, size, label, signal)),
      close: () => inner.close(),
    };
    const host = await PluginHost.open({ pluginDir: dir, loader: fakeLoader(), sealer: stallingSealer, liveEnvironment: ENV, limits: { reloadTimeoutMs: 300 } });
    hosts.push(host);
    expect(host.call('greet', 'Add', [1, 1])).toBe(2);

    stall = true;
    await writeFile(join(dir, 'libgreet.so'), 'GREET:2.0.0:1000');
    await writeLock(dir, { 'libgreet.so': 'GREET:2.0.0:1000' });
    const started = performance.now();
    await expect(host.reload()).rejects.toMatchObject({ code: 'RELOAD_TIMEOUT' });
    expect(performance.now() - started).toBeLessThan(3000);
    expect(host.call('greet', 'Add', [1, 1])).toBe(2); // v1 still serves

    stall = false;
    const report = await host.reload();
    expect(report.plugins[0]).toMatchObject({ status: 'loaded', version: '2.0.0' });
    expect(host.call('greet', 'Add', [1, 1])).toBe(1002);
  });

  it('the file sealer: a full disk is a typed rejection that leaves no partial copy; the next reload loads the right bytes', async () => {
    const dir = await deploy({ 'libgreet.so': 'GREET:1.0.0:0' });
    const sealDir = await tempDir('pb-seal-');
    let failWrites = true;
    const inner = new FileSealer(sealDir);
    // ENOSPC from the kernel is exercised for real in test/docker/sealed-loading (a tmpfs);
    // here the copy's own error path: a source that ends early stands in for a failed write.
    const flaky: Sealer = {
      kind: 'file',
      seal: async (source, size, label, signal) => (failWrites ? inner.seal(source, size + 1, label, signal) : inner.seal(source, size, label, signal)),
      close: () => inner.close(),
    };
    const host = await PluginHost.open({ pluginDir: dir, loader: fakeLoader(), sealer: flaky, liveEnvironment: ENV });
    hosts.push(host);
    expect(host.plugins()[0]).toMatchObject({ status: 'rejected', code: 'SEAL_FAILED' });
    const [made] = await readdir(sealDir);
    expect(await readdir(join(sealDir, made!))).toEqual([]);
    failWrites = false;
    await host.reload();
    expect(host.plugins()[0]).toMatchObject({ status: 'loaded', sha256: sha('GREET:1.0.0:0') });
  });

  it('inspect() re-checks the deployed files: changed, missing and unchanged', async () => {
    const dir = await deploy({ 'libgreet.so': 'GREET:1.0.0:0', 'libother.so': 'GREET:1.0.0:0:other' });
    const host = await open(dir);
    expect((await host.inspect()).plugins.map((p) => p.onDisk)).toEqual(['matches', 'matches']);
    await writeFile(join(dir, 'libgreet.so'), 'GREET:1.0.0:9'); // same size, other bytes
    await rm(join(dir, 'libother.so'));
    const report = await host.inspect();
    expect(report.plugins.map((p) => [p.name, p.status, p.onDisk])).toEqual([['greet', 'loaded', 'changed'], ['other', 'loaded', 'missing']]);
    expect(report.plugins[0]?.onDiskReason).toContain(sha('GREET:1.0.0:9'));
    expect(host.call('greet', 'Add', [1, 1])).toBe(2);
  });
});

describe('PluginHost: signed lockfiles', () => {
  const pair = generateSigningKeyPair();
  const signing = parseSigningKey(pair.privatePem, 'test.key');
  const trusted = parseTrustedKey(pair.publicPem, 'test.pub');
  const other = generateSigningKeyPair();

  async function signDir(dir: string, keyPem = pair.privatePem, serial?: number): Promise<void> {
    const text = readFileSync(join(dir, 'builder.lock.json'), 'utf8');
    await writeFile(join(dir, 'builder.lock.json.sig'), signLockfile(parseLockfile(text), text, parseSigningKey(keyPem, 'k'), '0.0.0-test', serial));
  }

  it('rollback: after v2 serves, the signed v1 (lower serial) is refused and v2 keeps serving; a floor refuses old sets at start', async () => {
    const v1 = await deploy({ 'libgreet.so': 'GREET:1.0.0:0' });
    await signDir(v1, pair.privatePem, 1000);
    const v1Files = { lock: readFileSync(join(v1, 'builder.lock.json')), sig: readFileSync(join(v1, 'builder.lock.json.sig')), so: readFileSync(join(v1, 'libgreet.so')) };
    const host = await open(v1, fakeLoader(), { trustedKeys: [trusted] });
    expect(host.report().lockfile).toMatchObject({ status: 'accepted', serial: 1000 });
    // v2, signed later.
    await writeFile(join(v1, 'libgreet.so'), 'GREET:2.0.0:100');
    await writeLock(v1, { 'libgreet.so': 'GREET:2.0.0:100' });
    await signDir(v1, pair.privatePem, 2000);
    expect((await host.reload()).lockfile).toMatchObject({ status: 'accepted', serial: 2000 });
    expect(host.call('greet', 'Add', [1, 1])).toBe(102);
    // The attacker puts the old, validly signed v1 back.
    await writeFile(join(v1, 'libgreet.so'), v1Files.so);
    await writeFile(join(v1, 'builder.lock.json'), v1Files.lock);
    await writeFile(join(v1, 'builder.lock.json.sig'), v1Files.sig);
    const back = await host.reload();
    expect(back.lockfile).toMatchObject({ status: 'refused', code: 'ROLLBACK_REFUSED' });
    expect(back.lockfile.reason).toContain("signed with serial 1000, older than the serving lockfile's 2000");
    expect(host.call('greet', 'Add', [1, 1])).toBe(102);
    // Still refused after another refused reload in between (the serving serial is not forgotten).
    await rm(join(v1, 'builder.lock.json.sig'));
    expect((await host.reload()).lockfile.code).toBe('UNSIGNED_LOCKFILE');
    await writeFile(join(v1, 'builder.lock.json.sig'), v1Files.sig);
    expect((await host.reload()).lockfile.code).toBe('ROLLBACK_REFUSED');
    // The same set re-signed now (a deliberate return) is accepted.
    await signDir(v1, pair.privatePem, 3000);
    expect((await host.reload()).lockfile).toMatchObject({ status: 'accepted', serial: 3000 });
    expect(host.call('greet', 'Add', [1, 1])).toBe(2);
    // A serial more than a day ahead of the host's clock (a signer's wrong clock) is refused.
    await signDir(v1, pair.privatePem, Date.now() + 2 * 24 * 3600 * 1000);
    expect((await host.reload()).lockfile).toMatchObject({ status: 'refused', code: 'BAD_SIGNATURE', reason: expect.stringContaining("more than a day ahead of this host's clock") });
    await signDir(v1, pair.privatePem, 3000);
    // A fresh host with a floor refuses anything signed before it.
    const floored = await open(v1, fakeLoader(), { trustedKeys: [trusted], minSerial: 5000 });
    expect(floored.report().lockfile).toMatchObject({ status: 'refused', code: 'ROLLBACK_REFUSED' });
    expect(floored.report().lockfile.reason).toContain('older than the configured floor (--min-serial) 5000');
  });

  it('loads a lockfile signed by a trusted key and reports who signed it', async () => {
    const dir = await deploy({ 'libgreet.so': 'GREET:1.0.0:0' });
    await signDir(dir);
    const host = await open(dir, fakeLoader(), { trustedKeys: [trusted] });
    expect(host.report()).toMatchObject({ trust: 'signed', lockfile: { status: 'accepted', signedBy: [signing.keyId] } });
    expect(host.call('greet', 'Add', [1, 1])).toBe(2);
  });

  it('the attack: rewriting a .so and its lockfile entry without the key loads nothing new', async () => {
    const dir = await deploy({ 'libgreet.so': 'GREET:1.0.0:0' });
    await signDir(dir);
    const loader = fakeLoader();
    const host = await open(dir, loader, { trustedKeys: [trusted] });
    await writeFile(join(dir, 'libgreet.so'), 'GREET:6.6.6:666');
    await writeLock(dir, { 'libgreet.so': 'GREET:6.6.6:666' });
    const report = await host.reload();
    expect(report.lockfile).toMatchObject({ status: 'refused', code: 'BAD_SIGNATURE' });
    expect(report.lockfile.reason).toContain('another lockfile');
    expect(host.call('greet', 'Add', [1, 1])).toBe(2);
    expect(loader.paths).toHaveLength(1);

    // Signed with a key the host does not trust: refused too.
    await signDir(dir, other.privatePem);
    expect((await host.reload()).lockfile).toMatchObject({ status: 'refused', code: 'BAD_SIGNATURE' });
    // No signature at all: refused as unsigned.
    await rm(join(dir, 'builder.lock.json.sig'));
    expect((await host.reload()).lockfile).toMatchObject({ status: 'refused', code: 'UNSIGNED_LOCKFILE' });
    expect(loader.paths).toHaveLength(1);
    expect(host.call('greet', 'Add', [1, 1])).toBe(2);
  });

  it('rotation: any one of several trusted keys is enough', async () => {
    const dir = await deploy({ 'libgreet.so': 'GREET:1.0.0:0' });
    await signDir(dir, other.privatePem);
    const host = await open(dir, fakeLoader(), { trustedKeys: [trusted, parseTrustedKey(other.publicPem, 'other.pub')] });
    expect(host.report().lockfile.status).toBe('accepted');
  });

  it('without trusted keys: loads, reports trust "unsigned" and warns exactly once', async () => {
    const dir = await deploy({ 'libgreet.so': 'GREET:1.0.0:0' });
    const warnings: string[] = [];
    const host = await open(dir, fakeLoader(), { log: (level, m) => level === 'warn' && warnings.push(m) });
    await host.reload();
    await host.reload();
    expect(host.report().trust).toBe('unsigned');
    expect(warnings.filter((w) => w.includes('no trusted signing keys'))).toHaveLength(1);
  });
});

describe('PluginHost.callWithin: calls on worker threads, with a time limit', () => {
  /** The fake loader, with `inWorker` calls: Hang's never settles (a plugin call that never returns). */
  function workerLoader(): NativeLoader {
    const inner = fakeLoader();
    return {
      load(path) {
        const lib = inner.load(path);
        return {
          definedHere: lib.definedHere,
          func(prototype: string) {
            const sync = lib.func(prototype);
            if (/ Hang\(/.test(prototype)) return Object.assign(() => { throw new Error('a blocking call on the loop'); }, { inWorker: () => new Promise<unknown>(() => undefined) });
            return Object.assign(sync, { inWorker: async (...args: unknown[]) => sync(...args) });
          },
        };
      },
    };
  }

  it('a call that never returns is CALL_TIMEOUT (504) at its limit; its plugin is then stuck (503), reported, and the others still answer', async () => {
    const dir = await deploy({ 'libgreet.so': 'GREET:1.0.0:0:greet:int Hang(void)', 'libother.so': 'GREET:1.0.0:5:other' });
    const warnings: string[] = [];
    const host = await open(dir, workerLoader(), { limits: { callTimeoutMs: 50 }, log: (level, m) => level === 'warn' && warnings.push(m) });
    expect(await host.callWithin('greet', 'Add', [2, 3])).toBe(5);
    const started = Date.now();
    const timeout = await host.callWithin('greet', 'Hang', []).then(() => null, (e: unknown) => e as BadCallError);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(timeout).toMatchObject({ code: 'CALL_TIMEOUT', status: 504 });
    expect(warnings.join('\n')).toContain('greet.Hang did not return within 50 ms');
    const again = await host.callWithin('greet', 'Add', [1, 1]).then(() => null, (e: unknown) => e as BadCallError);
    expect(again).toMatchObject({ code: 'PLUGIN_STUCK', status: 503 });
    expect(again?.message).toContain('a call to Hang has not returned since');
    expect(host.plugins().find((p) => p.name === 'greet')?.stuck).toMatchObject({ fn: 'Hang' });
    expect(await host.callWithin('other', 'Add', [1, 1])).toBe(7);
  });

  it('calls beyond the free threads wait their turn; one plugin gets at most a quarter of them; waiting calls to a plugin that got stuck are refused', async () => {
    const dir = await deploy({ 'libgreet.so': 'GREET:1.0.0:0:greet:int Hang(void)', 'libother.so': 'GREET:1.0.0:5:other' });
    const host = await open(dir, workerLoader(), { limits: { callTimeoutMs: 300, maxCallsInFlight: 2 } });
    // greet may run one call at a time (a quarter of two, at least one): the second waits.
    const first = host.callWithin('greet', 'Hang', []);
    const second = host.callWithin('greet', 'Add', [1, 2], 5000);
    first.catch(() => undefined);
    second.catch(() => undefined);
    // other has a thread of its own meanwhile.
    expect(await host.callWithin('other', 'Add', [1, 1])).toBe(7);
    await expect(first).rejects.toMatchObject({ code: 'CALL_TIMEOUT' });
    await expect(second).rejects.toMatchObject({ code: 'PLUGIN_STUCK' });
    expect(host.callsInFlight()).toBe(1);
    expect(await host.callWithin('other', 'Add', [2, 2])).toBe(9);
    // Twenty calls at once to one plugin are all answered, in turn.
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => host.callWithin('other', 'Add', [i, 0])));
    expect(answers).toEqual(Array.from({ length: 20 }, (_, i) => i + 5));
  });
});
