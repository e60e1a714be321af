import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cachedProbe, FileProbeCache, probeCacheFile } from '../../../src/env/probe-cache.js';
import { runPool } from '../../../src/util/run-pool.js';

describe('probe cache', () => {
  it('probes an image ID once, across cache instances (a later build)', async () => {
    const file = join(await mkdtemp(join(tmpdir(), 'pb-probes-')), 'sub', 'probes.json');
    let probes = 0;
    const probe = async () => ({ probed: ++probes });
    expect(await cachedProbe(new FileProbeCache(file), 'sha256:a host', probe)).toEqual({ probed: 1 });
    expect(await cachedProbe(new FileProbeCache(file), 'sha256:a host', probe)).toEqual({ probed: 1 });
    expect(await cachedProbe(new FileProbeCache(file), 'sha256:b host', probe)).toEqual({ probed: 2 });
    expect(probes).toBe(2);
    expect(Object.keys(JSON.parse(await readFile(file, 'utf8')) as object).sort()).toEqual(['sha256:a host', 'sha256:b host']);
  });

  it('lives under PB_CACHE_DIR, else XDG_CACHE_HOME', () => {
    expect(probeCacheFile({ PB_CACHE_DIR: '/c' })).toBe('/c/probes.json');
    expect(probeCacheFile({ XDG_CACHE_HOME: '/x' })).toBe('/x/plugin-builder/probes.json');
  });
});

describe('runPool', () => {
  it('keeps order and never runs more than the limit at once', async () => {
    let running = 0;
    let peak = 0;
    const results = await runPool([30, 10, 20, 5, 15], 2, async (ms, i) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, ms));
      running--;
      return i * 10;
    });
    expect(results).toEqual([0, 10, 20, 30, 40]);
    expect(peak).toBe(2);
  });
});
