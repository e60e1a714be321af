import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cacheLookup, LdCacheFormatError, parseLdCache } from '../../../src/elf/ld-so-cache.js';

/** What glibc's own ldconfig says a cache file holds: `soname (flags) => path` per line. */
function ldconfigListing(file: string): Array<{ key: string; path: string }> {
  return execFileSync('ldconfig', ['-C', file, '-p'], { encoding: 'utf8' })
    .split('\n')
    .slice(1)
    .map((line) => /^\s+(\S+) \(([^)]*)\) => (\S+)$/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ key: m[1] as string, path: m[3] as string }));
}

describe('ld.so.cache', () => {
  it("reads this machine's cache (new format) exactly as ldconfig -p lists it", () => {
    const entries = parseLdCache(readFileSync('/etc/ld.so.cache'));
    expect(entries.map((e) => ({ key: e.key, path: e.path }))).toEqual(ldconfigListing('/etc/ld.so.cache'));
    expect(cacheLookup(entries, 'libc.so.6', 'x86_64')).toBe('/lib/x86_64-linux-gnu/libc.so.6');
    expect(cacheLookup(entries, 'libnot-there.so.1', 'x86_64')).toBeNull();
  });

  it('reads the compat layout (old table, then the new one) that ldconfig -c compat writes', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'pb-ldcache-')), 'compat.cache');
    execFileSync('ldconfig', ['-c', 'compat', '-C', file]);
    const bytes = readFileSync(file);
    expect(bytes.subarray(0, 11).toString('latin1')).toBe('ld.so-1.7.0');
    expect(parseLdCache(bytes).map((e) => ({ key: e.key, path: e.path }))).toEqual(ldconfigListing(file));
  });

  it('fuzz: any bytes, and any corruption of a real cache, parse or fail with LdCacheFormatError', () => {
    const real = readFileSync('/etc/ld.so.cache');
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat()).map(([at, value, cut]) => {
        const copy = Buffer.from(real);
        copy[at % copy.length] = value;
        return copy.subarray(0, Math.max(1, copy.length - (cut % 400)));
      })), (bytes) => {
        try {
          for (const entry of parseLdCache(bytes)) expect(typeof entry.path).toBe('string');
        } catch (err) {
          expect(err).toBeInstanceOf(LdCacheFormatError);
        }
      }),
      { numRuns: 400 },
    );
  });
});
