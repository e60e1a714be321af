import { spawn, execFileSync } from 'node:child_process';
import { readlinkSync, writeFileSync } from 'node:fs';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Lockfile, parseLockfile, serializeLockfile } from '../../src/lock/lockfile.js';
import { FileSealer } from '../../src/runtime/file-sealer.js';
import { createKoffiLoader, createMemfdSyscalls } from '../../src/runtime/koffi-native.js';
import { ALL_SEALS, MemfdSealer } from '../../src/runtime/memfd-sealer.js';
import type { NativeLoader } from '../../src/runtime/native-loader.js';
import { PluginHost } from '../../src/runtime/plugin-host.js';
import { sha } from '../helpers/fake-plugins.js';
import { requireDocker, skipDocker } from '../helpers/docker.js';
import { buildCopies, cli, copyProject, REPO } from '../helpers/project.js';

const isRoot = process.getuid?.() === 0;

describe.skipIf(skipDocker)('sealed loading with real koffi and the real kernel', () => {
  let built: string; // examples/hello dist/plugins (greet v1, shout)
  let v2: string; // greet v2
  let lock: Lockfile;
  let lockV2: Lockfile;
  const cleanup: string[] = [];
  const temp = async (prefix: string) => {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    cleanup.push(dir);
    return dir;
  };

  beforeAll(async () => {
    await requireDocker();
    [built] = (await buildCopies(['examples/hello'])) as [string];
    // greet-v2 carries a plugin without a manifest, for the runtime to refuse: the build's proof would refuse it first.
    [v2] = (await buildCopies(['test/fixtures/greet-v2'], ['--no-prove'])) as [string];
    lock = parseLockfile(await readFile(join(built, 'builder.lock.json'), 'utf8'));
    lockV2 = parseLockfile(await readFile(join(v2, 'builder.lock.json'), 'utf8'));
    cleanup.push(join(built, '../..'), join(v2, '../..'));
  });

  afterAll(async () => {
    await Promise.all(cleanup.map((d) => rm(d, { recursive: true, force: true })));
  });

  const recording = (loader: NativeLoader) => {
    const paths: string[] = [];
    return { paths, loader: { load: (path: string) => (paths.push(path), loader.load(path)) } };
  };

  it('memfd: the loaded path is a sealed memfd, writes to it fail, and nothing is written to disk', async () => {
    const syscalls = await createMemfdSyscalls();
    expect(syscalls).not.toBeNull();
    const privateDirs = async () => (await readdir(tmpdir())).filter((f) => f.startsWith('builder-plugins-')).sort();
    const before = await privateDirs();
    const { paths, loader } = recording(await createKoffiLoader());
    const host = await PluginHost.open({ pluginDir: built, loader, sealer: new MemfdSealer(syscalls!), liveEnvironment: lock.host.fingerprint });
    expect(host.plugins().map((p) => p.status)).toEqual(['loaded', 'loaded']);
    expect(host.call('greet', 'Add', [40, 2])).toBe(42);
    expect(host.call('shout', 'Shout', ['sealed'])).toBe('SEALED!');
    for (const path of paths) {
      expect(path).toMatch(/^\/proc\/self\/fd\/\d+$/);
      expect(readlinkSync(path)).toMatch(/^\/memfd:builder-plugin:(greet|shout) \(deleted\)$/);
      const fd = Number(path.split('/').pop());
      expect(syscalls!.getSeals(fd) & ALL_SEALS).toBe(ALL_SEALS);
      expect(() => writeFileSync(path, 'x')).toThrow(/EPERM/);
      expect(sha(await readFile(path))).toBe(lock.plugins[readlinkSync(path).includes('greet') ? 'greet' : 'shout']!.sha256);
    }
    expect(await privateDirs()).toEqual(before);
    await host.close();
  });

  it('memfd: versions and rejected copies churn fd numbers; every call still reaches the bytes its version locked', async () => {
    const dir = await temp('pb-churn-');
    const { paths, loader } = recording(await createKoffiLoader());
    const host = await PluginHost.open({ pluginDir: dir, loader, sealer: new MemfdSealer((await createMemfdSyscalls())!), liveEnvironment: lock.host.fingerprint });
    const deployGreet = async (from: string, entry: Lockfile['plugins'][string]) => {
      await cp(join(from, 'libgreet.so'), join(dir, 'libgreet.so'));
      await writeFile(join(dir, 'builder.lock.json'), serializeLockfile({ ...lock, plugins: { greet: entry } }));
      return host.reload();
    };
    const tampered = async (from: string, entry: Lockfile['plugins'][string]) => {
      const bytes = await readFile(join(from, 'libgreet.so'));
      bytes[bytes.length - 1]! ^= 1;
      await writeFile(join(dir, 'libgreet.so'), bytes);
      // A version never seen before (the cache would serve an already loaded one from memory).
      await writeFile(join(dir, 'builder.lock.json'), serializeLockfile({ ...lock, plugins: { greet: { ...entry, sha256: `f${entry.sha256.slice(1)}` } } }));
      return host.reload();
    };
    const v1Entry = lock.plugins.greet!;
    const v2Entry = lockV2.plugins.greet!;
    await deployGreet(built, v1Entry);
    expect(host.call('greet', 'Add', [1, 2])).toBe(3);
    // A rejected copy is released: its fd number becomes free for the next one.
    expect((await tampered(v2, v2Entry)).plugins[0]).toMatchObject({ version: '1.0.0', code: 'HASH_MISMATCH' });
    await deployGreet(v2, v2Entry);
    expect(host.call('greet', 'Add', [1, 2])).toBe(1003);
    expect((await tampered(built, v1Entry)).plugins[0]).toMatchObject({ version: '2.0.0', code: 'HASH_MISMATCH' });
    await deployGreet(built, v1Entry); // v1 again: the loaded version is reused, not dlopen'ed again
    expect(host.call('greet', 'Add', [1, 2])).toBe(3);
    await deployGreet(v2, v2Entry);
    expect(host.call('greet', 'Add', [1, 2])).toBe(1003);
    expect(paths).toHaveLength(2);
    expect(new Set(paths).size).toBe(2);
    await host.close();
  });

  it('a plugin refused after dlopen stays mapped through garbage collection (its thread keeps running); libc symbols are not its functions', async () => {
    const hostile = await copyProject('test/fixtures/hostile');
    cleanup.push(hostile);
    // Plugins the runtime must refuse: the build's proof would refuse them first.
    const build = await cli(hostile, ['build', '--no-prove']);
    expect(build.code, build.stderr).toBe(0);
    const dir = join(hostile, 'dist/plugins');
    const hostileLock = parseLockfile(await readFile(join(dir, 'builder.lock.json'), 'utf8'));
    const host = await PluginHost.open({ pluginDir: dir, loader: await createKoffiLoader(), sealer: new MemfdSealer((await createMemfdSyscalls())!), liveEnvironment: hostileLock.host.fingerprint });
    const statuses = new Map(host.plugins().map((p) => [p.name, p]));
    expect(statuses.get('threaded')).toMatchObject({ status: 'rejected', code: 'BAD_MANIFEST' });
    expect(statuses.get('borrow')).toMatchObject({ status: 'rejected', code: 'BAD_MANIFEST' });
    expect(statuses.get('borrow')?.reason).toContain('not a function of this plugin');
    expect(statuses.get('wide')?.status).toBe('loaded');
    // koffi dlcloses a library whose handle is collected: force collections and look at the maps.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    for (let i = 0; i < 5; i++) {
      gc();
      await new Promise((r) => setTimeout(r, 50));
    }
    const maps = await readFile('/proc/self/maps', 'utf8');
    expect(maps).toContain('builder-plugin:threaded');
    expect(host.call('wide', 'Neg', [true])).toBe(false); // and this process is alive to say so
    await host.close();
  });

  it.runIf(isRoot || process.env.CI === 'true')('file fallback on a full tmpfs: a typed SEAL_FAILED, no partial copy; after space returns the right bytes load', async () => {
    const mountPoint = await temp('pb-tmpfs-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', mountPoint]);
    try {
      const sealer = new FileSealer(mountPoint);
      const warnings: string[] = [];
      const host = await PluginHost.open({ pluginDir: built, loader: await createKoffiLoader(), sealer, liveEnvironment: lock.host.fingerprint, log: (l, m) => l === 'warn' && warnings.push(m) });
      // shout is 1.5 MB: it cannot fit in 1 MiB; greet (15 KB) does.
      const statuses = new Map(host.plugins().map((p) => [p.name, p]));
      expect(statuses.get('greet')?.status).toBe('loaded');
      expect(statuses.get('shout')).toMatchObject({ status: 'rejected', code: 'SEAL_FAILED' });
      expect(statuses.get('shout')?.reason).toContain('ENOSPC');
      const [copies] = await readdir(mountPoint);
      const left = await readdir(join(mountPoint, copies!));
      expect(left.filter((f) => f.includes('shout'))).toEqual([]);
      expect(left.filter((f) => f.endsWith('.partial'))).toEqual([]);

      execFileSync('mount', ['-o', 'remount,size=16m', mountPoint]);
      const report = await host.reload();
      expect(report.plugins.find((p) => p.name === 'shout')).toMatchObject({ status: 'loaded', sha256: lock.plugins.shout!.sha256 });
      expect(host.call('shout', 'Double', [21])).toBe(42);
      // The loaded copy on disk has exactly the locked bytes.
      const copy = (await readdir(join(mountPoint, copies!))).find((f) => f.startsWith('shout-'))!;
      expect(sha(await readFile(join(mountPoint, copies!, copy)))).toBe(lock.plugins.shout!.sha256);
      await host.close();
      expect(await readdir(mountPoint)).toEqual([]);
    } finally {
      // Lazy: the loaded copies stay mapped in this process until it exits.
      execFileSync('umount', ['-l', mountPoint]);
    }
  });

  describe('builder host as a process', () => {
    const freePort = () =>
      new Promise<{ port: number; close: () => void }>((resolve) => {
        const server = createServer().listen(0, '127.0.0.1', () => {
          const address = server.address();
          resolve({ port: typeof address === 'object' && address ? address.port : 0, close: () => server.close() });
        });
      });
    const runHost = (args: string[], tmp: string) => {
      const child = spawn('node', [join(REPO, 'dist/builder.js'), 'host', '--plugins', built, '--allow-environment-mismatch', '--sealing', 'file', ...args], {
        env: { ...process.env, TMPDIR: tmp },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      return { child, exited, stderr: () => stderr };
    };

    it('a failed start (port taken) exits 2 and leaves no private directory behind', async () => {
      const tmp = await temp('pb-tmpdir-');
      const busy = await freePort();
      const run = runHost(['--port', String(busy.port)], tmp);
      const code = await run.exited;
      busy.close();
      expect(code, run.stderr()).toBe(2);
      expect(run.stderr()).toContain('EADDRINUSE');
      expect(run.stderr()).toContain('loaded greet'); // it had made copies before failing
      expect(await readdir(tmp)).toEqual([]);
    });

    it('SIGTERM: exits 0 within the grace period and removes its private directory', async () => {
      const tmp = await temp('pb-tmpdir-');
      const free = await freePort();
      free.close();
      const run = runHost(['--port', String(free.port)], tmp);
      const deadline = Date.now() + 20_000;
      while (!run.stderr().includes('listening on') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      expect(run.stderr()).toContain('copies: file');
      expect((await readdir(tmp)).length).toBe(1);
      const started = performance.now();
      run.child.kill('SIGTERM');
      expect(await run.exited).toBe(0);
      expect(performance.now() - started).toBeLessThan(3000);
      expect(await readdir(tmp)).toEqual([]);
    });
  });
});
