import { access } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { ProjectConfig } from '../config/config.js';
import { loadConfig } from '../config/load-config.js';
import { BuilderError } from '../errors.js';
import { readLockfile } from '../lock/lockfile-io.js';
import { isMultiPlatform, type LockDocument, type PlatformView, platformViews } from '../lock/lockfile.js';

export interface LockLocation {
  lockPath: string;
  lock: LockDocument;
  /** The config that named the lockfile, or the one beside it in cwd (-c, ./builder.config.json); null when there is none. */
  config: ProjectConfig | null;
  /** Where the plugin files are expected locally: --dir, the config's outDir, or the lockfile's directory. */
  localDir: string;
}

const exists = (path: string) => access(path).then(() => true, () => false);

/**
 * Find the lockfile the way a user expects: --lock; else DIR/builder.lock.json for --dir;
 * else the one named by builder.config.json (-c); else ./builder.lock.json.
 */
export async function locateLock(cwd: string, options: { lock?: string; dir?: string; config?: string }, want: { config?: boolean } = {}): Promise<LockLocation> {
  let lockPath: string;
  let localDir: string | undefined = options.dir ? resolve(cwd, options.dir) : undefined;
  let config: ProjectConfig | null = null;
  const configPath = resolve(cwd, options.config ?? 'builder.config.json');
  const configGiven = options.config !== undefined || (await exists(configPath));
  // With want.config, the config is read even when --lock or --dir names the lockfile.
  if (configGiven && (want.config || (!options.lock && !localDir))) config = await loadConfig(configPath);
  if (options.lock) lockPath = resolve(cwd, options.lock);
  else if (localDir) lockPath = join(localDir, 'builder.lock.json');
  else if (config) {
    lockPath = config.lockfile;
    localDir = config.outDir;
  } else {
    lockPath = resolve(cwd, 'builder.lock.json');
  }
  const lock = await readLockfile(lockPath);
  if (!lock) {
    throw new BuilderError('LOCKFILE_MISSING', `No lockfile at ${lockPath}.`, {
      fix: 'Pass --lock FILE (or --dir DIR holding builder.lock.json), or run builder build first.',
    });
  }
  return { lockPath, lock, config, localDir: localDir ?? dirname(lockPath) };
}

/** One platform's entries, with where its files lie locally. */
export interface LocatedPlatform extends PlatformView {
  localDir: string;
}

/**
 * The platforms a command works on: `--platform P`, else every platform of the lockfile (one,
 * for a single-platform lockfile). `one` for commands that need exactly one (deploy, verify
 * --image): a multi-platform lockfile then needs --platform.
 */
export function selectPlatforms(location: LockLocation, platform: string | undefined, one?: string): LocatedPlatform[] {
  const views = platformViews(location.lock);
  const chosen = platform === undefined ? views : views.filter((v) => v.platform === platform);
  const listed = views.map((v) => v.platform).join(', ');
  if (chosen.length === 0) {
    throw new BuilderError('PLATFORM_NOT_LOCKED', `${location.lockPath} holds ${listed}, not ${platform}.`, {
      fix: isMultiPlatform(location.lock) ? `Pass --platform with one of ${listed}, or add "${platform}" to host.platforms and build.` : `This lockfile is for ${listed}: drop --platform, or build for ${platform} (host.platforms in builder.config.json).`,
    });
  }
  if (one && chosen.length > 1) {
    throw new BuilderError('PLATFORM_REQUIRED', `${location.lockPath} holds ${listed}; ${one} works on one platform at a time.`, {
      fix: `Pass --platform ${chosen[0]!.platform} (or ${chosen.slice(1).map((v) => v.platform).join(', ')}).`,
    });
  }
  return chosen.map((v) => ({ ...v, localDir: v.dir ? join(location.localDir, v.dir) : location.localDir }));
}
