import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
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
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'file not found' : `cannot read ${file} (${code ?? String(err)})`;
    throw new ConfigError(file, [{ field: '(root)', message: `${reason} (pass another path with -c)` }]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(file, [{ field: '(root)', message: `not valid JSON: ${(err as Error).message}` }]);
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
