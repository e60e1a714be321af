import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BuilderError } from '../../../src/errors.js';
import { type Lockfile, parseLockfile, serializeLockfile } from '../../../src/lock/lockfile.js';
import { mergeShardLockfiles } from '../../../src/shard/merge-lockfiles.js';
import { parseShard, pluginsOfShard, sortedNames } from '../../../src/shard/shard.js';
import { ENV, H } from '../../helpers/fake-plugins.js';

const NAME = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,10}$/);

describe('parseShard', () => {
  it('takes K/N with 1 ≤ K ≤ N ≤ 1000 and refuses everything else', () => {
    expect(parseShard('2/3')).toEqual({ index: 2, count: 3 });
    expect(parseShard('1/1')).toEqual({ index: 1, count: 1 });
    for (const bad of ['0/3', '4/3', '1/0', '3', '1/2/3', ' 1/2', '01/2', '1/1001', '-1/2', '1.5/2', '', '1/ 2']) {
      expect(() => parseShard(bad), bad).toThrow(BuilderError);
    }
  });
});

describe('parseShard under fuzz', () => {
  it('any string: a shard whose K/N prints back as the input, or BAD_OPTION (property)', () => {
    const near = fc.oneof(fc.string({ maxLength: 12 }), fc.tuple(fc.integer({ min: -5, max: 1200 }), fc.integer({ min: -5, max: 1200 })).map(([k, n]) => `${k}/${n}`));
    fc.assert(
      fc.property(near, (value) => {
        try {
          const { index, count } = parseShard(value);
          return `${index}/${count}` === value && index >= 1 && index <= count && count <= 1000;
        } catch (err) {
          return err instanceof BuilderError && err.code === 'BAD_OPTION';
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('pluginsOfShard', () => {
  it('deals every plugin to exactly one shard, sizes within one, whatever the order of the config (property)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(NAME, { maxLength: 40 }), fc.integer({ min: 1, max: 12 }), fc.integer(), (names, count, seed) => {
        const shuffled = [...names].sort((a, b) => ((a.length * 31 + seed) % 7) - ((b.length * 31 + seed) % 7));
        const shards = Array.from({ length: count }, (_, i) => pluginsOfShard(names, { index: i + 1, count }));
        const again = Array.from({ length: count }, (_, i) => pluginsOfShard(shuffled, { index: i + 1, count }));
        const all = shards.flat();
        const sizes = shards.map((s) => s.length);
        return (
          JSON.stringify(shards) === JSON.stringify(again) &&
          all.length === names.length &&
          JSON.stringify(sortedNames(all)) === JSON.stringify(sortedNames(names)) &&
          Math.max(...sizes) - Math.min(...sizes) <= 1
        );
      }),
    );
  });
});

/** A whole project's lockfile with these plugins, and the lockfiles its N shards would write. */
function project(names: string[], count: number): { whole: Lockfile; shards: Array<{ source: string; lock: Lockfile }> } {
  const entry = (name: string, i: number) => ({ kind: 'c' as const, file: `lib${name}.so`, sha256: H(((i % 9) + 1).toString()).slice(7), size: 100 + i, inputsHash: H('a') });
  const env = { image: 'h', imageId: H('1'), fingerprint: ENV, fingerprintHash: H('2') };
  const base = { lockfileVersion: 1 as const, host: env, builder: { ...env, image: 'plugin-builder/builder:x', toolchain: { gcc: '12' } } };
  const plugins = Object.fromEntries(names.map((n, i) => [n, entry(n, i)]));
  const whole: Lockfile = { ...base, plugins };
  const shards = Array.from({ length: count }, (_, i) => {
    const shard = { index: i + 1, count, plugins: sortedNames(names) };
    const mine = pluginsOfShard(names, shard);
    return { source: `shard-${i + 1}/builder.lock.json`, lock: { ...base, plugins: Object.fromEntries(mine.map((n) => [n, plugins[n]!])), shard } };
  });
  return { whole, shards };
}

const refusal = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(BuilderError);
    expect((err as BuilderError).code).toBe('LOCK_MERGE_REFUSED');
    return (err as Error).message;
  }
  throw new Error('not refused');
};

describe('mergeShardLockfiles', () => {
  it('all shards, in any order, through their serialized text: byte-identical to the whole lockfile (property)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(NAME, { maxLength: 25 }), fc.integer({ min: 1, max: 8 }), fc.boolean(), (names, count, reverse) => {
        const { whole, shards } = project(names, count);
        const read = shards.map((s) => ({ source: s.source, lock: parseLockfile(serializeLockfile(s.lock), s.source) }));
        return serializeLockfile(mergeShardLockfiles(reverse ? read.reverse() : read)) === serializeLockfile(whole);
      }),
    );
  });

  it('any selection of shards (missing, repeated, reordered) and any environment change: the whole lockfile exactly when all N are there once and agree, else a refusal (property)', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(NAME, { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.nat(6), { maxLength: 8 }),
        fc.option(fc.constantFrom('builder.imageId', 'host.fingerprintHash', 'builder.toolchain'), { nil: undefined }),
        (names, count, picks, tweak) => {
          const { whole, shards } = project(names, count);
          const chosen = picks.map((i) => shards[i % count]!);
          if (tweak && chosen.length > 1) {
            const last = chosen[chosen.length - 1]!;
            const lock = structuredClone(last.lock);
            if (tweak === 'builder.imageId') lock.builder.imageId = H('f');
            if (tweak === 'host.fingerprintHash') lock.host.fingerprintHash = H('e');
            if (tweak === 'builder.toolchain') lock.builder.toolchain = { gcc: '13' };
            chosen[chosen.length - 1] = { source: 'tweaked', lock };
          }
          const complete = chosen.length === count && new Set(chosen.map((c) => c.lock.shard!.index)).size === count;
          const agrees = !tweak || chosen.length <= 1 || chosen.every((c) => c.source !== 'tweaked');
          try {
            const merged = mergeShardLockfiles(chosen);
            return complete && agrees && serializeLockfile(merged) === serializeLockfile(whole);
          } catch (err) {
            return err instanceof BuilderError && err.code === 'LOCK_MERGE_REFUSED' && !(complete && agrees);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('refuses a missing shard (naming what would be lost), a shard given twice, a different split, a lockfile without --shard', () => {
    const { whole, shards } = project(['a', 'b', 'c', 'd', 'e'], 3);
    expect(refusal(() => mergeShardLockfiles([shards[0]!, shards[2]!]))).toBe('Shard 2/3 missing: the merged lockfile would lack b, e.');
    expect(refusal(() => mergeShardLockfiles([...shards, { ...shards[1]!, source: 'again' }]))).toBe('Shard 2/3 is given twice: shard-2/builder.lock.json and again.');
    const other = project(['a', 'b', 'c', 'd', 'e'], 2).shards[0]!;
    expect(refusal(() => mergeShardLockfiles([shards[0]!, other]))).toContain('different splits');
    expect(refusal(() => mergeShardLockfiles([{ source: 'full.json', lock: whole }]))).toContain('full.json is not a shard\'s lockfile');
    expect(refusal(() => mergeShardLockfiles([]))).toBe('No lockfiles to merge.');
  });

  it('refuses shards of another plugin list, another builder image, or holding plugins not theirs', () => {
    const { shards } = project(['a', 'b', 'c'], 2);
    const renamed = project(['a', 'b', 'x'], 2).shards[1]!;
    expect(refusal(() => mergeShardLockfiles([shards[0]!, renamed]))).toContain('divide different plugin lists');
    const otherBuilder = { ...shards[1]!, lock: { ...shards[1]!.lock, builder: { ...shards[1]!.lock.builder, imageId: H('9') } } };
    const message = refusal(() => mergeShardLockfiles([shards[0]!, otherBuilder]));
    expect(message).toContain(`builder.imageId: "${H('1')}" → "${H('9')}"`);
    const stolen = { ...shards[1]!, lock: { ...shards[1]!.lock, plugins: { ...shards[1]!.lock.plugins, a: shards[0]!.lock.plugins.a! } } };
    expect(refusal(() => mergeShardLockfiles([shards[0]!, stolen]))).toBe('shard-2/builder.lock.json (shard 2/2) holds a, b; that shard is b.');
  });

  it('refuses two plugins claiming one file', () => {
    const { shards } = project(['a', 'b'], 2);
    const clash = { ...shards[1]!, lock: { ...shards[1]!.lock, plugins: { b: { ...shards[1]!.lock.plugins.b!, file: 'liba.so' } } } };
    expect(refusal(() => mergeShardLockfiles([shards[0]!, clash]))).toBe('Plugins a and b both claim the file liba.so.');
  });

  it('refuses a plugin list naming a plugin twice (the red team got a raw EEXIST), and shards of another config than -c names', () => {
    const { shards } = project(['a', 'b'], 2);
    const twice = shards.map((s) => ({ ...s, lock: { ...s.lock, shard: { ...s.lock.shard!, plugins: ['a', 'a', 'b'] } } }));
    expect(refusal(() => mergeShardLockfiles(twice))).toBe('shard-1/builder.lock.json divides a plugin list that names "a" twice: no build writes that.');
    expect(refusal(() => mergeShardLockfiles(shards, ['a', 'b', 'c']))).toBe("The shards divide another plugin list than the config's: in the config but in no shard: c; they were built from another config.");
    expect(refusal(() => mergeShardLockfiles(shards, ['a']))).toBe("The shards divide another plugin list than the config's: not in the config: b; they were built from another config.");
    expect(serializeLockfile(mergeShardLockfiles(shards, ['b', 'a']))).toBe(serializeLockfile(project(['a', 'b'], 1).whole));
  });

  it('a shard record that does not parse is a lockfile error, not a merge', () => {
    const { shards } = project(['a'], 1);
    const text = serializeLockfile({ ...shards[0]!.lock, shard: { index: 2, count: 1, plugins: ['a'] } });
    expect(() => parseLockfile(text)).toThrow('index must not exceed count');
  });
});
