import { access } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { loadConfig } from '../config/load-config.js';
import { BuilderError, EXIT_UNUSABLE } from '../errors.js';
import { readLockfile } from '../lock/lockfile-io.js';
import type { Lockfile } from '../lock/lockfile.js';

export interface LockLocation {
  lockPath: string;
  lock: Lockfile;
  /** Where the plugin files are expected locally: --dir, the config's outDir, or the lockfile's directory. */
  localDir: string;
}

const exists = (path: string) => access(path).then(() => true, () => false);

/**
 * Find the lockfile the way a user expects: --lock; else DIR/builder.lock.json for --dir;
 * else the one named by builder.config.json (-c); else ./builder.lock.json.
 */
export async function locateLock(cwd: string, options: { lock?: string; dir?: string; config?: string }): Promise<LockLocation> {
  let lockPath: string;
  let localDir: string | undefined = options.dir ? resolve(cwd, options.dir) : undefined;
  if (options.lock) lockPath = resolve(cwd, options.lock);
  else if (localDir) lockPath = join(localDir, 'builder.lock.json');
  else {
    const configPath = resolve(cwd, options.config ?? 'builder.config.json');
    if (options.config || (await exists(configPath))) {
      const config = await loadConfig(configPath);
      lockPath = config.lockfile;
      localDir = config.outDir;
    } else {
      lockPath = resolve(cwd, 'builder.lock.json');
    }
  }
  const lock = await readLockfile(lockPath);
  if (!lock) {
    throw new BuilderError('LOCKFILE_MISSING', `No lockfile at ${lockPath}.`, {
      fix: 'Pass --lock FILE (or --dir DIR holding builder.lock.json), or run builder build first.',
      exitCode: EXIT_UNUSABLE,
    });
  }
  return { lockPath, lock, localDir: localDir ?? dirname(lockPath) };
}
