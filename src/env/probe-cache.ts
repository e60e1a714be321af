import { mkdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../util/write-file-atomic.js';

/**
 * Remembers probe results by image ID. An image ID is the sha256 of the image's config, which
 * names its layers by content: the same ID always has the same files, so a probe never needs
 * repeating — even for a build without a lockfile.
 */
export interface ProbeCache {
  get<T>(key: string): Promise<T | undefined>;
  set(key: string, value: unknown): Promise<void>;
}

export const noProbeCache: ProbeCache = {
  async get() {
    return undefined;
  },
  async set() {},
};

/** `$PB_CACHE_DIR`, else `$XDG_CACHE_HOME/plugin-builder`, else `~/.cache/plugin-builder`. */
export function probeCacheFile(env: Readonly<Record<string, string | undefined>>): string {
  const dir = env.PB_CACHE_DIR ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'plugin-builder');
  return join(dir, 'probes.json');
}

export class FileProbeCache implements ProbeCache {
  private entries: Promise<Record<string, unknown>> | null = null;

  constructor(private readonly file: string) {}

  private load(): Promise<Record<string, unknown>> {
    this.entries ??= readFile(this.file, 'utf8')
      .then((text) => JSON.parse(text) as Record<string, unknown>)
      .catch(() => ({}));
    return this.entries;
  }

  async get<T>(key: string): Promise<T | undefined> {
    return (await this.load())[key] as T | undefined;
  }

  async set(key: string, value: unknown): Promise<void> {
    const entries = await this.load();
    entries[key] = value;
    // A cache: failing to write it must never fail a build.
    await mkdir(dirname(this.file), { recursive: true })
      .then(() => writeFileAtomic(this.file, JSON.stringify(entries)))
      .catch(() => {});
  }
}

/** Probe through the cache: `probe` runs only for an image ID not seen before. */
export async function cachedProbe<T>(cache: ProbeCache, key: string, probe: () => Promise<T>): Promise<T> {
  const hit = await cache.get<T>(key);
  if (hit !== undefined) return hit;
  const value = await probe();
  await cache.set(key, value);
  return value;
}
