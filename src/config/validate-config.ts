import { isAbsolute, relative, resolve } from 'node:path';
import { ConfigError, type ConfigIssue } from '../errors.js';
import { DEFAULT_LOCKFILE, DEFAULT_OUT_DIR, type ProjectConfig } from './config.js';
import { configSchema } from './schema.js';

function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out ? `.${String(part)}` : String(part);
  return out || '(root)';
}

function isInside(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * Validate a parsed config (pure: no file access). Reports every issue at once, each naming
 * its field, so a user fixes the file in one pass.
 */
export function validateConfig(raw: unknown, projectDir: string, configFile = 'builder.config.json'): ProjectConfig {
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(
      configFile,
      parsed.error.issues.map((i) => ({
        field: fieldPath(i.path),
        message: i.code === 'invalid_type' && i.input === undefined ? 'is required' : i.message,
      })),
    );
  }
  const config = parsed.data;
  const issues: ConfigIssue[] = [];
  const seen = new Map<string, number>();
  config.plugins.forEach((plugin, index) => {
    const field = `plugins[${index}]`;
    const first = seen.get(plugin.name);
    if (first !== undefined) {
      issues.push({ field: `${field}.name`, message: `duplicate plugin name "${plugin.name}" (also plugins[${first}].name)` });
    } else {
      seen.set(plugin.name, index);
    }
    if (isAbsolute(plugin.path) || !isInside(projectDir, resolve(projectDir, plugin.path))) {
      issues.push({ field: `${field}.path`, message: `"${plugin.path}" is outside the project directory ${projectDir}` });
    }
  });
  if (config.plugins.some((p) => p.kind === 'go-plugin') && !config.host.binary) {
    issues.push({ field: 'host.binary', message: 'is required for go-plugin plugins: the path of the Go host executable inside the host image' });
  }
  if (issues.length > 0) throw new ConfigError(configFile, issues);

  return {
    projectDir,
    configFile,
    hostImage: config.host.image,
    hostBinary: config.host.binary,
    builderBase: config.builder?.base,
    builderPackages: config.builder?.packages ?? [],
    plugins: config.plugins.map((p) => ({
      name: p.name,
      kind: p.kind,
      path: p.path,
      dir: resolve(projectDir, p.path),
      cflags: p.cflags ?? [],
      libs: p.libs ?? [],
    })),
    outDir: resolve(projectDir, config.outDir ?? DEFAULT_OUT_DIR),
    lockfile: resolve(projectDir, config.lockfile ?? DEFAULT_LOCKFILE),
    sourceDateEpoch: config.sourceDateEpoch ?? 0,
  };
}
