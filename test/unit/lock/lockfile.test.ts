import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LockfileError } from '../../../src/errors.js';
import { readLockfile, writeLockfile } from '../../../src/lock/lockfile-io.js';
import { type Lockfile, parseLockfile, sameLockContent, serializeLockfile } from '../../../src/lock/lockfile.js';
import { canonicalJson, prettyCanonicalJson } from '../../../src/util/canonical-json.js';

const H = (c: string) => `sha256:${c.repeat(64)}`;
export const sampleLock = (): Lockfile => ({
  lockfileVersion: 1,
  host: { image: 'host:1', imageId: H('a'), fingerprint: { os: { id: 'debian', versionId: '12' }, arch: 'x86_64', libc: { family: 'glibc', version: '2.36' } }, fingerprintHash: H('b') },
  builder: { image: 'b:1', imageId: H('c'), fingerprint: { os: { id: 'debian', versionId: '12' }, arch: 'x86_64', libc: { family: 'glibc', version: '2.36' } }, fingerprintHash: H('b'), toolchain: { gcc: '12.2.0' } },
  plugins: { greet: { kind: 'c', file: 'libgreet.so', sha256: 'd'.repeat(64), size: 10, inputsHash: H('e') } },
});

describe('canonical JSON', () => {
  it('ignores key order and drops undefined', () => {
    expect(canonicalJson({ b: 1, a: { d: undefined, c: [2, 1] } })).toBe('{"a":{"c":[2,1]},"b":1}');
    expect(canonicalJson({ a: 1, b: 2 })).toBe(canonicalJson({ b: 2, a: 1 }));
  });
  it('pretty form: 2-space indent and a trailing newline', () => {
    expect(prettyCanonicalJson({ b: 1, a: 2 })).toBe('{\n  "a": 2,\n  "b": 1\n}\n');
  });
});

describe('lockfile', () => {
  it('round-trips, and serialises the same whatever the key order', () => {
    const lock = sampleLock();
    const text = serializeLockfile(lock);
    expect(parseLockfile(text)).toEqual(lock);
    const reordered = JSON.parse(JSON.stringify({ plugins: lock.plugins, host: lock.host, lockfileVersion: 1, builder: lock.builder })) as Lockfile;
    expect(serializeLockfile(reordered)).toBe(text);
    expect(text.endsWith('}\n')).toBe(true);
  });

  it.each([
    ['a wrong version', (l: Record<string, unknown>) => (l.lockfileVersion = 2), 'lockfileVersion'],
    ['a bad sha256', (l: Record<string, any>) => (l.plugins.greet.sha256 = 'xyz'), 'plugins.greet.sha256'],
    ['a file name with a slash', (l: Record<string, any>) => (l.plugins.greet.file = '../x.so'), 'plugins.greet.file'],
  ])('rejects %s, naming the field', (_what, edit, field) => {
    const raw = JSON.parse(serializeLockfile(sampleLock())) as Record<string, unknown>;
    edit(raw);
    expect(() => parseLockfile(JSON.stringify(raw), 'x.lock.json')).toThrow(LockfileError);
    expect(() => parseLockfile(JSON.stringify(raw), 'x.lock.json')).toThrow(new RegExp(`x\\.lock\\.json: ${field.replace(/\./g, '\\.')}`));
  });

  it('writes atomically: no temp files left, readable back; missing → null', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pb-lock-'));
    const path = join(dir, 'builder.lock.json');
    expect(await readLockfile(path)).toBeNull();
    await writeLockfile(path, sampleLock());
    await writeLockfile(path, sampleLock());
    expect(await readdir(dir)).toEqual(['builder.lock.json']);
    expect(await readLockfile(path)).toEqual(sampleLock());
    expect(await readFile(path, 'utf8')).toBe(serializeLockfile(sampleLock()));
  });
});

describe('lockfile: names from the file never act as object properties', () => {
  it('plugins named like Object.prototype members round-trip; "__proto__" is refused as a name', () => {
    const lock = sampleLock();
    const entry = lock.plugins.greet!;
    const names = ['constructor', 'toString', 'hasOwnProperty', 'valueOf', 'greet'];
    const text = serializeLockfile({ ...lock, plugins: Object.fromEntries(names.map((n) => [n, { ...entry, file: `lib${n}.so` }])) });
    const parsed = parseLockfile(text);
    expect(Object.keys(parsed.plugins).sort()).toEqual([...names].sort());
    expect(serializeLockfile(parsed)).toBe(text);
    const withoutConstructor = parseLockfile(serializeLockfile(sampleLock()));
    expect(withoutConstructor.plugins.constructor).toBeUndefined();
    const proto = text.replace('"valueOf"', '"__proto__"');
    expect(() => parseLockfile(proto)).toThrow(LockfileError);
    expect(canonicalJson(JSON.parse('{"__proto__":{"x":1},"a":2}'))).toBe('{"__proto__":{"x":1},"a":2}');
  });

  it('a deeply nested module replacement is an invalid lockfile, not a stack overflow', () => {
    // Built as text: JSON.stringify itself would overflow on an object this deep.
    const replace = '{"path":"x","version":"v1","replace":'.repeat(20_000) + '{"path":"x","version":"v1"}' + '}'.repeat(20_000);
    const lock = sampleLock();
    const text = JSON.stringify({ ...lock, plugins: { greet: { ...lock.plugins.greet, deps: ['DEPS'] } } }).replace('"DEPS"', `{"path":"m","version":"v1","replace":${replace}}`);
    expect(() => parseLockfile(text)).toThrow(LockfileError);
  });

  it('fuzz: any JSON either parses to a lockfile that round-trips or throws LockfileError', async () => {
    const fc = (await import('fast-check')).default;
    const base = sampleLock();
    const arb = fc.oneof(
      fc.json(),
      fc.dictionary(fc.string({ maxLength: 12 }), fc.record({ kind: fc.constantFrom('c', 'go-plugin', 'rust'), file: fc.string({ maxLength: 12 }), sha256: fc.constantFrom('d'.repeat(64), 'x'), size: fc.integer(), inputsHash: fc.constant(base.plugins.greet!.inputsHash) }), { maxKeys: 5 }).map((plugins) => JSON.stringify({ ...base, plugins })),
    );
    fc.assert(
      fc.property(arb, (text) => {
        let parsed;
        try {
          parsed = parseLockfile(text);
        } catch (err) {
          expect(err).toBeInstanceOf(LockfileError);
          return;
        }
        expect(parseLockfile(serializeLockfile(parsed))).toEqual(parsed);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('lockfile generator', () => {
  it('round-trips, is checked for shape, and no comparison looks at it', () => {
    const lock = { ...sampleLock(), generator: { tool: 'plugin-builder 0.1.0', node: 'v20.20.2' } };
    const text = serializeLockfile(lock);
    expect(parseLockfile(text)).toEqual(lock);
    expect(serializeLockfile(parseLockfile(text))).toBe(text);
    expect(sameLockContent(lock, { ...lock, generator: { tool: 'plugin-builder 9.9.9', node: 'v22.0.0' } })).toBe(true);
    expect(sameLockContent(lock, sampleLock())).toBe(true);
    expect(sameLockContent(lock, { ...lock, plugins: {} })).toBe(false);
    const extra = JSON.parse(text) as Record<string, Record<string, unknown>>;
    extra.generator!.by = 'someone';
    expect(() => parseLockfile(JSON.stringify(extra))).toThrow(LockfileError);
    expect(() => parseLockfile(JSON.stringify({ ...JSON.parse(text), generator: { tool: 'x'.repeat(201), node: 'v20' } }))).toThrow(/generator\.tool/);
  });
});

describe('lockfile per-file source hashes', () => {
  const H64 = 'a'.repeat(64);
  const withSources = (sources: unknown) => {
    const lock = JSON.parse(serializeLockfile(sampleLock())) as { plugins: Record<string, Record<string, unknown>> };
    const [name] = Object.keys(lock.plugins);
    lock.plugins[name!]!.sources = sources;
    return JSON.stringify(lock);
  };

  it('round-trips; a path named __proto__ is an own key, never a prototype', () => {
    const lock = parseLockfile(withSources(JSON.parse(`{"plugins/greet/greet.c": "${H64}", "__proto__": "${H64}"}`)));
    const sources = Object.values(lock.plugins)[0]!.sources!;
    expect(Object.keys(sources).sort()).toEqual(['__proto__', 'plugins/greet/greet.c']);
    expect(Object.getPrototypeOf(sources)).toBeNull();
    expect(serializeLockfile(parseLockfile(serializeLockfile(lock)))).toBe(serializeLockfile(lock));
  });

  it.each([
    [{ '/etc/passwd': H64 }, /not a relative path inside the project/],
    [{ 'plugins/../../x': H64 }, /not a relative path inside the project/],
    [{ '': H64 }, /not a relative path/],
    [{ 'a.c': 'zz' }, /must be 64 hex digits/],
    [{ 'a.c': 7 }, /must be 64 hex digits/],
    [[H64], /./],
  ])('refuses %j', (sources, problem) => {
    expect(() => parseLockfile(withSources(sources))).toThrow(problem);
  });
});
