import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LockfileError } from '../../../src/errors.js';
import { parseLockDocument, parseLockfile, platformView, platformViews, serializeLockfile } from '../../../src/lock/lockfile.js';
import { machineOfPlatform, PLATFORMS, platformDir, platformFile, platformOfMachine } from '../../../src/lock/platform.js';
import { sampleMultiLock } from '../../helpers/sample-locks.js';
import { sampleLock } from './lockfile.test.js';

describe('platform names', () => {
  it('map ELF machines to OCI platforms and back, and name one directory component each', () => {
    expect(platformOfMachine('aarch64')).toBe('linux/arm64');
    expect(platformOfMachine('x86_64')).toBe('linux/amd64');
    expect(platformOfMachine('em-999')).toBeNull();
    expect(platformOfMachine('constructor')).toBeNull();
    for (const platform of PLATFORMS) {
      expect(platformOfMachine(machineOfPlatform(platform)!)).toBe(platform);
      expect(platformDir(platform)).toMatch(/^linux-[a-z0-9]+$/);
    }
    expect(platformFile('', 'libx.so')).toBe('libx.so');
    expect(platformFile('linux-arm64', 'libx.so')).toBe('linux-arm64/libx.so');
  });
});

describe('multi-platform lockfile', () => {
  it('round-trips; each platform is a view with its directory; a single-platform lockfile is one view with none', () => {
    const doc = sampleMultiLock();
    const text = serializeLockfile(doc);
    expect(parseLockDocument(text)).toEqual(doc);
    expect(platformViews(doc).map((v) => [v.platform, v.dir, v.lock.host.image])).toEqual([
      ['linux/amd64', 'linux-amd64', 'host:1'],
      ['linux/arm64', 'linux-arm64', 'host:1-arm64'],
    ]);
    expect(platformView(doc, 'linux/riscv64')).toBeUndefined();
    const single = sampleLock();
    expect(platformViews(single)).toEqual([{ platform: 'linux/amd64', dir: '', lock: single }]);
  });

  it('is refused where one host section is expected, naming its platforms', () => {
    expect(() => parseLockfile(serializeLockfile(sampleMultiLock()))).toThrow(/one section per platform \(linux\/amd64, linux\/arm64\)/);
  });

  it.each([
    ['a section filed under another platform (aarch64 code as linux/amd64)', (d: any) => (d.platforms['linux/amd64'] = d.platforms['linux/arm64']), /linux\/amd64\.host\.fingerprint\.arch: "aarch64" is not linux\/amd64's machine \(x86_64\)/],
    ['an unknown platform', (d: any) => (d.platforms['windows/amd64'] = d.platforms['linux/amd64']), /not a platform/],
    ['a platform named like a prototype member', (d: any) => Object.defineProperty(d.platforms, '__proto__', { value: d.platforms['linux/amd64'], enumerable: true }), /platforms\."__proto__": not a platform/],
    ['no platform at all', (d: any) => (d.platforms = {}), /lists no platform/],
    ['a top-level host beside platforms', (d: any) => (d.host = d.platforms['linux/amd64'].host), /both "platforms" and a top-level/],
    ['a bad plugin entry in one platform', (d: any) => (d.platforms['linux/arm64'].plugins.greet.sha256 = 'x'), /platforms\.linux\/arm64\.plugins\.greet\.sha256/],
    ['a bad plugin name in one platform', (d: any) => (d.platforms['linux/arm64'].plugins['../x'] = {}), /not a valid plugin name/],
  ])('refuses %s', (_, edit, message) => {
    const raw = JSON.parse(serializeLockfile(sampleMultiLock())) as Record<string, unknown>;
    edit(raw);
    expect(() => parseLockDocument(JSON.stringify(raw))).toThrow(LockfileError);
    expect(() => parseLockDocument(JSON.stringify(raw))).toThrow(message);
  });

  it('fuzz: any platforms map either parses to a document that round-trips or throws LockfileError', () => {
    const base = sampleMultiLock();
    const sections = Object.values(base.platforms);
    const arb = fc.oneof(
      fc.json().map((platforms) => `{"lockfileVersion":1,"platforms":${platforms}}`),
      fc
        .dictionary(fc.oneof(fc.constantFrom(...PLATFORMS, 'linux/amd64 ', 'Linux/arm64', '__proto__', 'constructor'), fc.string({ maxLength: 14 })), fc.constantFrom(...sections, {}, null), { maxKeys: 4 })
        .map((platforms) => JSON.stringify({ lockfileVersion: 1, platforms })),
    );
    fc.assert(
      fc.property(arb, (text) => {
        let parsed;
        try {
          parsed = parseLockDocument(text);
        } catch (err) {
          expect(err).toBeInstanceOf(LockfileError);
          return;
        }
        expect(parseLockDocument(serializeLockfile(parsed))).toEqual(parsed);
        for (const view of platformViews(parsed)) expect(platformOfMachine(view.lock.host.fingerprint.arch)).toBe(view.platform);
      }),
      { numRuns: 2000 },
    );
  });
});
