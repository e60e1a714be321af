import { dirname, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { MAX_CONFIG_BYTES } from '../limits.js';
import { describeJsonError } from '../util/json-error.js';
import { readSmallFile, UnsafeFileError } from '../util/safe-file.js';
import { checkConfigPaths } from './check-config-paths.js';
import type { ProjectConfig } from './config.js';
import { checkConfig } from './validate-config.js';

/**
 * Read, parse and validate a config file: schema, semantics and the filesystem (every path by
 * its real path) in one pass, so every problem of the file is reported at once. The config
 * returned holds real paths.
 */
export async function loadConfig(configPath: string): Promise<ProjectConfig> {
  const file = resolve(configPath);
  let text: string;
  try {
    // A link to the config is the user's own choice; a FIFO, a device or a huge file is refused unread.
    text = (await readSmallFile(file, 'The config', MAX_CONFIG_BYTES, { followSymlinks: true })).toString('utf8');
  } catch (err) {
    const reason = err instanceof UnsafeFileError && err.code === 'FILE_MISSING' ? 'file not found' : (err as Error).message;
    throw new ConfigError(file, [{ field: '(root)', message: `${reason} (pass another path with -c)` }]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(file, [{ field: '(root)', message: describeJsonError(text, err) }]);
  }
  const projectDir = dirname(file);
  const checked = checkConfig(raw, projectDir, file);
  const { issues, paths } = await checkConfigPaths(raw, projectDir);
  const all = [...checked.issues, ...issues];
  if (!checked.config || all.length > 0 || !paths.outDir || !paths.lockfile) throw new ConfigError(file, all);
  return {
    ...checked.config,
    projectDir: paths.projectDir,
    plugins: checked.config.plugins.map((p, index) => ({ ...p, dir: paths.pluginDirs.get(index) ?? p.dir })),
    outDir: paths.outDir,
    lockfile: paths.lockfile,
  };
}
