import { createHash } from 'node:crypto';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BadCallError } from '../../../src/errors.js';
import { serializeLockfile, type Lockfile } from '../../../src/lock/lockfile.js';
import { createHostServer } from '../../../src/runtime/host-server.js';
import type { NativeLoader } from '../../../src/runtime/native-loader.js';
import { PluginHost } from '../../../src/runtime/plugin-host.js';
import { checkArguments, parsePrototype } from '../../../src/runtime/prototype.js';
import { parseManifest } from '../../../src/runtime/manifest.js';

const ENV = { os: { id: 'debian', versionId: '12' }, arch: 'x86_64', libc: { family: 'glibc' as const, version: '2.36' } };
const H = (c: string) => `sha256:${c.repeat(64)}`;
const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** Library behaviour by file content: "GREET:<version>:<offset>" adds offset in Add. */
function fakeLoader(): NativeLoader & { paths: string[] } {
  const paths: string[] = [];
  return {
    paths,
    load(path) {
      paths.push(path);
      const text = readFileSync(path, 'utf8');
      if (text.startsWith('BROKEN')) throw new Error("version `GLIBC_2.38' not found (required by x.so)");
      const [, version = '?', offset = '0', name = 'greet'] = text.split(':');
      return {
        func(prototype: string) {
          if (prototype.startsWith('const char *builder_plugin_manifest')) {
            return () => JSON.stringify({ name, version, functions: { Add: 'int Add(int a, int b)', Boom: 'int Boom(void)' } });
          }
          if (prototype.startsWith('int Add')) return (...args: unknown[]) => (args[0] as number) + (args[1] as number) + Number(offset);
          return () => {
            throw new Error('boom');
          };
        },
      };
    },
  };
}

async function deploy(files: Record<string, string>, lockFiles: Record<string, string> = files, env = ENV): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pb-host-'));
  for (const [file, content] of Object.entries(files)) await writeFile(join(dir, file), content);
  await writeLock(dir, lockFiles, env);
  return dir;
}

async function writeLock(dir: string, lockFiles: Record<string, string>, env = ENV): Promise<void> {
  const plugins: Lockfile['plugins'] = {};
  for (const [file, content] of Object.entries(lockFiles)) {
    const name = file.replace(/^lib|\.so$/g, '');
    plugins[name] = { kind: 'c', file, sha256: sha(content), size: content.length, inputsHash: H('e') };
  }
  const lock: Lockfile = {
    lockfileVersion: 1,
    host: { image: 'h', imageId: H('a'), fingerprint: env, fingerprintHash: H('b') },
    builder: { image: 'b', imageId: H('c'), fingerprint: env, fingerprintHash: H('b'), toolchain: {} },
    plugins,
  };
  await writeFile(join(dir, 'builder.lock.json'), serializeLockfile(lock));
}

const hosts: PluginHost[] = [];
async function open(dir: string, loader = fakeLoader(), extra: Partial<Parameters<typeof PluginHost.open>[0]> = {}) {
  const host = await PluginHost.open({ pluginDir: dir, loader, liveEnvironment: ENV, ...extra });
  hosts.push(host);
  return host;
}
afterEach(async () => {
  await Promise.all(hosts.splice(0).map((h) => h.close()));
});

describe('PluginHost', () => {
  it('loads verified bytes from a private 0700 copy and binds the manifest functions', async () => {
    const dir = await deploy({ 'libgreet.so': 'GREET:1.0.0:0' });
    const loader = fakeLoader();
    const host = await open(dir, loader);
    expect(host.plugins()).toEqual([
      { name: 'greet', status: 'loaded', file: 'libgreet.so', sha256: sha('GREET:1.0.0:0'), version: '1.0.0', functions: ['Add', 'Boom'] },
    ]);
    expect(host.call('greet', 'Add', [2, 3])).toBe(5);
    const [path] = loader.paths;
    expect(dirname(path!)).not.toBe(dir);
    expect((await stat(dirname(path!))).mode & 0o777).toBe(0o700);
    expect(await readFile(path!, 'utf8')).toBe('GREET:1.0.0:0');
  });

  it('rejects changed bytes and unlisted .so files without loading them', async () => {
    const dir = await deploy({ 'libgreet.so': 'GREET:1.0.0:0', 'libextra.so': 'X' }, { 'libgreet.so': 'GREET:other' });
    const loader = fakeLoader();
    const host = await open(dir, loader);
    const [greet, extra] = host.plugins();
    expect(greet).toMatchObject({ status: 'rejected', code: 'HASH_MISMATCH' });
    expect(greet?.reason).toContain(sha('GREET:1.0.0:0'));
    expect(greet?.reason).toContain(sha('GREET:other'));
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

    await writeFile(join(dir, 'libgreet.so'), 'GREET:2.0.0:1000');
    await writeLock(dir, { 'libgreet.so': 'GREET:2.0.0:1000' });
    await host.reload();
    expect(loader.paths).toHaveLength(2);
    expect(loader.paths[1]).not.toBe(loader.paths[0]);
    expect(host.call('greet', 'Add', [1, 2])).toBe(1003);

    await writeLock(dir, { 'libgreet.so': 'GREET:3.0.0:5' }); // bytes on disk are still v2
    const [status] = await host.reload();
    expect(status).toMatchObject({ status: 'loaded', version: '2.0.0', code: 'HASH_MISMATCH' });
    expect(status?.reason).toContain('rejected');
    expect(host.call('greet', 'Add', [1, 2])).toBe(1003);


    await writeLock(dir, {}); // greet removed from the lockfile: no longer callable
    await host.reload();
    expect(() => host.call('greet', 'Add', [1, 2])).toThrow(/no plugin "greet" is loaded/);
  });

  it('rejects a wrong manifest name and a failing dlopen with the loader message', async () => {
    const dir = await deploy({ 'libgreet.so': 'GREET:1.0.0:0:impostor', 'libbad.so': 'BROKEN' });
    const host = await open(dir);
    const byName = Object.fromEntries(host.plugins().map((p) => [p.name, p]));
    expect(byName.greet).toMatchObject({ status: 'rejected', code: 'BAD_MANIFEST' });
    expect(byName.greet?.reason).toContain('"impostor"');
    expect(byName.bad).toMatchObject({ status: 'rejected', code: 'LOAD_FAILED' });
    expect(byName.bad?.reason).toContain("GLIBC_2.38' not found");
  });

  it('call() answers 404 for unknown plugins and functions, 400 for bad arguments', async () => {
    const host = await open(await deploy({ 'libgreet.so': 'GREET:1.0.0:0' }));
    const status = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return (err as BadCallError).status;
      }
      return 200;
    };
    expect(status(() => host.call('nope', 'Add', []))).toBe(404);
    expect(status(() => host.call('greet', 'Nope', []))).toBe(404);
    expect(status(() => host.call('greet', 'Add', [1]))).toBe(400);
    expect(status(() => host.call('greet', 'Add', [1, 'x']))).toBe(400);
  });
});

describe('host service', () => {
  it('serves list, call, reload; maps every failure to a status; survives a throwing function', async () => {
    const host = await open(await deploy({ 'libgreet.so': 'GREET:1.0.0:0' }));
    const server = createHostServer(host);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    const base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    const req = async (method: string, path: string, body?: string) => {
      const res = await fetch(base + path, { method, ...(body === undefined ? {} : { body }) });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    try {
      expect(await req('GET', '/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
      expect((await req('GET', '/plugins')).body.plugins).toHaveLength(1);
      expect(await req('POST', '/plugins/greet/call/Add', '{"args":[2,40]}')).toEqual({ status: 200, body: { result: 42 } });
      expect((await req('POST', '/plugins/greet/call/Add', '{"args":[2]}')).status).toBe(400);
      expect((await req('POST', '/plugins/nope/call/Add', '{"args":[]}')).status).toBe(404);
      expect((await req('POST', '/plugins/greet/call/Nope', '{"args":[]}')).status).toBe(404);
      expect((await req('POST', '/plugins/greet/call/Add', 'not json')).status).toBe(400);
      expect((await req('POST', '/plugins/greet/call/Add', '{"args":3}')).status).toBe(400);
      expect((await req('GET', '/plugins/greet/call/Add')).status).toBe(405);
      expect((await req('GET', '/nowhere')).status).toBe(404);
      expect((await req('POST', '/plugins/reload')).status).toBe(200);
      expect((await req('PUT', '/plugins/reload')).status).toBe(200);
      expect((await req('POST', '/plugins/greet/call/Boom', '{"args":[]}')).status).toBe(500);
      expect((await req('GET', '/healthz')).status).toBe(200);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});

describe('prototypes and manifests', () => {
  it('parses koffi prototypes into argument kinds', () => {
    expect(parsePrototype('int Add(int a, int b)')).toMatchObject({ name: 'Add', returns: { kind: 'int' }, params: [{ kind: 'int' }, { kind: 'int' }] });
    expect(parsePrototype('const char *Greet(const char *who)')).toMatchObject({ name: 'Greet', returns: { kind: 'string' }, params: [{ kind: 'string' }] });
    expect(parsePrototype('void Reset(void)')?.params).toEqual([]);
    expect(parsePrototype('double Scale(double x, float)')?.params).toEqual([{ kind: 'float' }, { kind: 'float' }]);
    expect(parsePrototype('struct foo *Make(void)')?.returns.kind).toBe('unsupported');
    expect(parsePrototype('not a prototype')).toBeNull();
  });

  it('checks JSON arguments against C types', () => {
    const add = parsePrototype('int Add(int a, int b)')!;
    expect(checkArguments(add, [1, 2])).toBeNull();
    expect(checkArguments(add, [1])).toBe('Add takes 2 argument(s), got 1');
    expect(checkArguments(add, [1.5, 2])).toContain('must be an integer');
    expect(checkArguments(add, [2 ** 31, 2])).toContain('between');
    expect(checkArguments(parsePrototype('int L(const char *s)')!, ['a\0b'])).toContain('NUL');
    expect(checkArguments(parsePrototype('int P(struct x *p)')!, [1])).toContain('cannot be passed as JSON');
  });

  it('validates manifests', () => {
    const ok = JSON.stringify({ name: 'g', version: '1', functions: { Add: 'int Add(int a, int b)' } });
    expect(parseManifest(ok, 'g').functions.Add?.parsed.name).toBe('Add');
    expect(() => parseManifest(null, 'g')).toThrow(/NULL/);
    expect(() => parseManifest('{', 'g')).toThrow(/invalid JSON/);
    expect(() => parseManifest(ok, 'other')).toThrow(/calls itself "g" but the lockfile lists it as "other"/);
    expect(() => parseManifest(JSON.stringify({ name: 'g', version: '1', functions: { Add: 'int Sub(int a)' } }), 'g')).toThrow(/declares "Sub"/);
    expect(() => parseManifest(JSON.stringify({ name: 'g', version: '1', functions: {} }), 'g')).toThrow(/empty/);
  });
});
