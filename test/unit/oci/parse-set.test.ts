import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { serializeLockfile } from '../../../src/lock/lockfile.js';
import { checkLayersAgainstLockfile, parseSetDocument, SetDocumentError } from '../../../src/oci/parse-set.js';
import { createdFromEpoch, pluginSetArtifact } from '../../../src/oci/plugin-set.js';
import { lockFor } from '../../helpers/fake-plugins.js';
import { sampleMultiLock } from '../../helpers/sample-locks.js';

describe('plugin set documents', () => {
  it('the same lockfile gives the same bytes and digest; what it builds parses back, layers matching the lockfile', () => {
    const lock = lockFor({ 'liba.so': 'a', 'libb.so': 'b' });
    const text = Buffer.from(serializeLockfile(lock));
    const one = pluginSetArtifact(text, lock, Buffer.from('{"sig":1}'), { created: createdFromEpoch('1700000000')! });
    const two = pluginSetArtifact(Buffer.from(serializeLockfile(lock)), lock, Buffer.from('{"sig":1}'), { created: '2023-11-14T22:13:20Z' });
    expect(one.top.digest).toBe(two.top.digest);
    const parsed = parseSetDocument(one.top.bytes, 'x');
    expect(parsed.kind).toBe('manifest');
    if (parsed.kind !== 'manifest') return;
    expect(parsed.plugins.map((p) => p.path)).toEqual(['liba.so', 'libb.so']);
    expect(parsed.annotations['org.opencontainers.image.created']).toBe('2023-11-14T22:13:20Z');
    checkLayersAgainstLockfile(parsed, lock, null, 'x');
  });

  it('a multi-platform lockfile becomes an index over one manifest per platform', () => {
    const multi = sampleMultiLock();
    const artifact = pluginSetArtifact(Buffer.from(serializeLockfile(multi)), multi, null, {});
    const index = parseSetDocument(artifact.top.bytes, 'x');
    expect(index).toMatchObject({ kind: 'index', platforms: [{ platform: 'linux/amd64' }, { platform: 'linux/arm64' }] });
    const arm = parseSetDocument(artifact.manifests[1]!.bytes, 'arm');
    if (arm.kind !== 'manifest') throw new Error('not a manifest');
    expect(arm.plugins.map((p) => p.path)).toEqual(['linux-arm64/libgreet.so']);
    checkLayersAgainstLockfile(arm, multi, 'linux/arm64', 'arm');
    expect(() => checkLayersAgainstLockfile(arm, multi, 'linux/amd64', 'arm')).toThrow('does not list');
  });

  it('SOURCE_DATE_EPOCH must be whole seconds', () => {
    expect(createdFromEpoch(undefined)).toBeUndefined();
    expect(() => createdFromEpoch('1.5')).toThrow('whole seconds');
    expect(() => createdFromEpoch('1e9')).toThrow('whole seconds');
  });

  it('fuzz: any bytes, and any mutation of a real manifest, parse or fail with SetDocumentError only', () => {
    const lock = lockFor({ 'liba.so': 'a' });
    const real = pluginSetArtifact(Buffer.from(serializeLockfile(lock)), lock, Buffer.from('s'), {}).top.bytes.toString();
    const mutated = fc.tuple(fc.nat({ max: real.length }), fc.nat({ max: 20 }), fc.string({ maxLength: 20 })).map(([at, cut, insert]) => real.slice(0, at) + insert + real.slice(at + cut));
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 500 }), mutated, fc.jsonValue().map((v) => JSON.stringify(v))), (text) => {
        try {
          const doc = parseSetDocument(Buffer.from(text), 'fuzz');
          if (doc.kind === 'manifest') for (const p of doc.plugins) expect(p.path).toMatch(/^(?:linux-[a-z0-9]+\/)?[A-Za-z0-9_.-]+\.so$/);
        } catch (err) {
          expect(err).toBeInstanceOf(SetDocumentError);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
