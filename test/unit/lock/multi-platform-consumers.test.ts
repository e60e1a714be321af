import { describe, expect, it } from 'vitest';
import { BuilderError } from '../../../src/errors.js';
import { type LockedPlugin, type MultiPlatformLockfile, parseLockDocument, platformView, serializeLockfile } from '../../../src/lock/lockfile.js';
import { mergeShardDocuments } from '../../../src/shard/merge-lockfiles.js';
import { generateSigningKeyPair, parseSigningKey, parseTrustedKey } from '../../../src/trust/keys.js';
import { checkArtifactsSigned, signLockfile, verifyLockfileSignature } from '../../../src/trust/lockfile-signature.js';
import { validateConfig } from '../../../src/config/validate-config.js';
import { platformTargets } from '../../../src/config/config.js';
import { sampleMultiLock } from '../../helpers/sample-locks.js';

const pair = generateSigningKeyPair();
const key = parseSigningKey(pair.privatePem, 'k');
const trusted = parseTrustedKey(pair.publicPem, 'k.pub');

describe('signing a multi-platform lockfile', () => {
  const doc = sampleMultiLock();
  const text = serializeLockfile(doc);
  const envelope = signLockfile(doc, text, key, '1.0.0');

  it('names each artifact by its path under the plugin directory, so one platform\'s bytes cannot stand for another\'s', () => {
    const { statement } = verifyLockfileSignature(Buffer.from(text), envelope, [trusted]);
    expect([...statement.subjects.keys()]).toEqual(['linux-amd64/libgreet.so', 'linux-arm64/libgreet.so', 'builder.lock.json']);
    const arm = platformView(doc, 'linux/arm64')!;
    checkArtifactsSigned(arm.lock, statement, arm.dir);
    // The arm64 entry checked as if it lay in the amd64 directory: a different signed digest.
    expect(() => checkArtifactsSigned(arm.lock, statement, 'linux-amd64')).toThrow(/linux-amd64\/libgreet.so\) is signed with sha256 d{64}/);
    expect(() => checkArtifactsSigned(arm.lock, statement, '')).toThrow(/libgreet.so\) is not a subject/);
    expect(signLockfile(parseLockDocument(text), text, key, '1.0.0')).toBe(envelope);
  });
});

describe('merging multi-platform shards', () => {
  function shards(): MultiPlatformLockfile[] {
    const full = sampleMultiLock();
    for (const section of Object.values(full.platforms)) section.plugins.shout = { ...section.plugins.greet!, file: 'libshout.so' };
    const record = { count: 2, plugins: ['greet', 'shout'] };
    return [1, 2].map((index) => ({
      lockfileVersion: 1,
      shard: { ...record, index },
      platforms: Object.fromEntries(
        Object.entries(full.platforms).map(([p, s]) => [p, { ...s, plugins: (index === 1 ? { greet: s.plugins.greet! } : { shout: s.plugins.shout! }) as Record<string, LockedPlugin> }]),
      ),
    }));
  }

  it('merges platform by platform into the lockfile one machine writes', () => {
    const [a, b] = shards() as [MultiPlatformLockfile, MultiPlatformLockfile];
    const merged = mergeShardDocuments([{ source: 'a', lock: a }, { source: 'b', lock: b }]) as MultiPlatformLockfile;
    expect(merged.shard).toBeUndefined();
    expect(Object.keys(merged.platforms)).toEqual(['linux/amd64', 'linux/arm64']);
    expect(Object.keys(merged.platforms['linux/arm64']!.plugins).sort()).toEqual(['greet', 'shout']);
    expect(merged.platforms['linux/arm64']!.plugins.greet!.sha256).toBe('9'.repeat(64));
  });

  it('refuses shards with different platforms, or a mix of shapes, naming them', () => {
    const [a, b] = shards() as [MultiPlatformLockfile, MultiPlatformLockfile];
    delete b.platforms['linux/arm64'];
    expect(() => mergeShardDocuments([{ source: 'a', lock: a }, { source: 'b', lock: b }])).toThrow(/b holds linux\/amd64; a holds linux\/amd64, linux\/arm64/);
    const single = { lockfileVersion: 1 as const, ...a.platforms['linux/amd64']!, shard: b.shard! };
    expect(() => mergeShardDocuments([{ source: 'a', lock: a }, { source: 'one', lock: single }])).toThrow(BuilderError);
  });

  it('refuses a platform whose shards were built in different builders, naming the platform', () => {
    const [a, b] = shards() as [MultiPlatformLockfile, MultiPlatformLockfile];
    b.platforms['linux/arm64']!.builder = { ...b.platforms['linux/arm64']!.builder, imageId: `sha256:${'7'.repeat(64)}` };
    expect(() => mergeShardDocuments([{ source: 'a', lock: a }, { source: 'b', lock: b }])).toThrow(/b \[linux\/arm64\] was built for another environment than a \[linux\/arm64\]/);
  });
});

describe('host.platforms in the config', () => {
  const plugins = [{ name: 'greet', kind: 'c', path: 'plugins/greet' }];
  const issues = (raw: unknown) => {
    try {
      validateConfig(raw, '/p');
      return [];
    } catch (err) {
      return (err as { issues: unknown[] }).issues;
    }
  };

  it('one build target per platform, in platform order, each with its artifacts under outDir/<os>-<arch>', () => {
    const config = validateConfig({ host: { platforms: { 'linux/arm64': 'h:arm', 'linux/amd64': 'h:amd' } }, plugins }, '/p');
    expect(platformTargets(config).map((t) => [t.platform, t.dir, t.config.hostImage, t.config.outDir])).toEqual([
      ['linux/amd64', 'linux-amd64', 'h:amd', '/p/dist/plugins/linux-amd64'],
      ['linux/arm64', 'linux-arm64', 'h:arm', '/p/dist/plugins/linux-arm64'],
    ]);
    const single = validateConfig({ host: { image: 'h' }, plugins }, '/p');
    expect(platformTargets(single)).toEqual([{ platform: null, dir: '', config: single }]);
  });

  it.each([
    ['both image and platforms', { image: 'h', platforms: { 'linux/amd64': 'h' } }, 'host.platforms', /cannot be combined with host.image/],
    ['an unknown platform', { platforms: { 'linux/mips': 'h' } }, 'host.platforms.linux/mips', /is not a platform: must be one of linux\/amd64/],
    ['no platform', { platforms: {} }, 'host.platforms', /at least one platform/],
    ['an empty image', { platforms: { 'linux/arm64': '' } }, 'host.platforms.linux/arm64', /empty/],
  ])('refuses %s', (_, host, field, message) => {
    const found = issues({ host, plugins }) as Array<{ field: string; message: string }>;
    expect(found.some((i) => i.field.startsWith(field) && message.test(i.message)), JSON.stringify(found)).toBe(true);
  });

  it('refuses builder.base beside host.platforms (each platform\'s builder comes from its own host image)', () => {
    expect(issues({ host: { platforms: { 'linux/amd64': 'h' } }, builder: { base: 'b' }, plugins })).toContainEqual({ field: 'builder.base', message: expect.stringMatching(/cannot be combined with host.platforms/) });
  });
});
