import { readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigError, type ConfigIssue } from '../errors.js';
import type { ProjectConfig } from './config.js';
import { validateConfig } from './validate-config.js';

/** Read, parse and validate a config file, then check that every plugin directory exists. */
export async function loadConfig(configPath: string): Promise<ProjectConfig> {
  const file = resolve(configPath);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : String(err);
    throw new ConfigError(file, [{ field: '(root)', message: `${reason} (pass another path with -c)` }]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(file, [{ field: '(root)', message: `not valid JSON: ${(err as Error).message}` }]);
  }
  const config = validateConfig(raw, dirname(file), file);
  const issues: ConfigIssue[] = [];
  await Promise.all(
    config.plugins.map(async (plugin, index) => {
      const isDir = await stat(plugin.dir).then((s) => s.isDirectory(), () => false);
      if (!isDir) issues.push({ field: `plugins[${index}].path`, message: `directory "${plugin.path}" does not exist` });
    }),
  );
  if (issues.length > 0) throw new ConfigError(file, issues);
  return config;
}
