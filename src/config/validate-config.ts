import { parseIgnoreRule } from './ignore-patterns.js';
import { isAbsolute, relative, resolve } from 'node:path';
import { ConfigError, type ConfigIssue } from '../errors.js';
import { DEFAULT_LOCKFILE, DEFAULT_OUT_DIR, type ProjectConfig } from './config.js';
import { schemaIssues } from './config-issues.js';
import { configSchema } from './schema.js';
import { PLATFORM_PATTERN, PLATFORMS } from '../lock/platform.js';

export function isInside(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

const record = (value: unknown): Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

/** The plugins of a raw config, as far as they can be read (for checks that run beside the schema's). */
export function rawPlugins(raw: unknown): Array<{ index: number; name?: string; kind?: string; path?: string }> {
  const plugins = record(raw).plugins;
  if (!Array.isArray(plugins)) return [];
  return plugins.map((p, index) => {
    const r = record(p);
    return { index, ...(text(r.name) ? { name: text(r.name) } : {}), ...(text(r.kind) ? { kind: text(r.kind) } : {}), ...(text(r.path) ? { path: text(r.path) } : {}) };
  });
}

/** Where outDir and the lockfile go, when the raw config names them usably (defaults otherwise). */
export function rawOutputs(raw: unknown, projectDir: string): { outDir: string | null; lockfile: string | null } {
  const r = record(raw);
  const pick = (value: unknown, fallback: string) => (value === undefined ? resolve(projectDir, fallback) : text(value) ? resolve(projectDir, value as string) : null);
  return { outDir: pick(r.outDir, DEFAULT_OUT_DIR), lockfile: pick(r.lockfile, DEFAULT_LOCKFILE) };
}

/**
 * Checks beyond types, made on the raw value so that they run even when the schema found
 * problems elsewhere: the user gets every issue of the file in one pass.
 */
function semanticIssues(raw: unknown, projectDir: string): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const seen = new Map<string, number>();
  const plugins = rawPlugins(raw);
  for (const plugin of plugins) {
    const field = `plugins[${plugin.index}]`;
    if (plugin.name !== undefined) {
      const first = seen.get(plugin.name);
      if (first !== undefined) issues.push({ field: `${field}.name`, message: `duplicate plugin name "${plugin.name}" (also plugins[${first}].name)` });
      else seen.set(plugin.name, plugin.index);
    }
    const entry = record((record(raw).plugins as unknown[])[plugin.index]);
    if (Array.isArray(entry.exclude)) {
      entry.exclude.forEach((pattern, j) => {
        if (typeof pattern !== 'string') return;
        try {
          parseIgnoreRule(pattern);
        } catch (err) {
          issues.push({ field: `${field}.exclude[${j}]`, message: (err as Error).message });
        }
      });
    }
    for (const key of ['cxxflags', 'staticLibstdcxx'] as const) {
      if (entry[key] !== undefined && plugin.kind !== undefined && plugin.kind !== 'cpp') issues.push({ field: `${field}.${key}`, message: `applies only to kind cpp (this plugin is ${plugin.kind})` });
    }
    if (plugin.path !== undefined && (isAbsolute(plugin.path) || !isInside(projectDir, resolve(projectDir, plugin.path)))) {
      issues.push({ field: `${field}.path`, message: `"${plugin.path}" is outside the project directory ${projectDir}` });
    }
  }
  const host = record(record(raw).host);
  const hostRaw = record(raw).host;
  if (host.image === undefined && host.platforms === undefined && hostRaw !== null && typeof hostRaw === 'object' && !Array.isArray(hostRaw)) {
    issues.push({ field: 'host.image', message: 'is required (or host.platforms, one image per platform)' });
  }
  if (host.image !== undefined && host.platforms !== undefined) {
    issues.push({ field: 'host.platforms', message: 'cannot be combined with host.image: name every platform\'s image in host.platforms' });
  }
  for (const platform of Object.keys(record(host.platforms))) {
    if (!PLATFORM_PATTERN.test(platform)) issues.push({ field: `host.platforms.${platform.slice(0, 40)}`, message: `is not a platform: must be one of ${PLATFORMS.join(', ')}` });
  }
  if (host.platforms !== undefined && record(record(raw).builder).base !== undefined) {
    issues.push({ field: 'builder.base', message: 'cannot be combined with host.platforms: each platform\'s builder is made from its own host image' });
  }
  if (plugins.some((p) => p.kind === 'go-plugin') && host.binary === undefined) {
    issues.push({ field: 'host.binary', message: 'is required for go-plugin plugins: the path of the Go host executable inside the host image' });
  }
  const outputs = rawOutputs(raw, projectDir);
  for (const [field, path] of Object.entries(outputs)) {
    if (path !== null && !isInside(projectDir, path)) issues.push({ field, message: `"${path}" is outside the project directory ${projectDir}` });
  }
  if (outputs.outDir !== null) {
    for (const plugin of plugins) {
      if (plugin.path !== undefined && isInside(resolve(projectDir, plugin.path), outputs.outDir)) {
        issues.push({ field: 'outDir', message: `"${outputs.outDir}" is inside plugins[${plugin.index}].path: built artifacts would become that plugin's sources` });
      }
    }
  }
  return issues;
}

/** Every issue of a parsed config (schema and semantics, no file access), and the config when there are none. */
export function checkConfig(raw: unknown, projectDir: string, configFile = 'builder.config.json'): { issues: ConfigIssue[]; config: ProjectConfig | null } {
  const parsed = configSchema.safeParse(raw, { reportInput: true });
  const issues = [...(parsed.success ? [] : schemaIssues(parsed.error.issues)), ...semanticIssues(raw, projectDir)];
  if (!parsed.success || issues.length > 0) return { issues, config: null };
  const config = parsed.data;
  const platforms = Object.entries(config.host.platforms ?? {})
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([platform, image]) => ({ platform, image }));
  return {
    issues,
    config: {
      projectDir,
      configFile,
      hostImage: config.host.image ?? platforms[0]!.image,
      hostPlatforms: config.host.platforms ? platforms : null,
      hostBinary: config.host.binary,
      ...(config.host.loader ? { hostLoader: config.host.loader } : {}),
      builderBase: config.builder?.base,
      builderPackages: config.builder?.packages ?? [],
      plugins: config.plugins.map((p) => ({
        name: p.name,
        kind: p.kind,
        path: p.path,
        dir: resolve(projectDir, p.path),
        cflags: p.cflags ?? [],
        cxxflags: p.cxxflags ?? [],
        staticLibstdcxx: p.staticLibstdcxx ?? false,
        libs: p.libs ?? [],
        exclude: p.exclude ?? [],
      })),
      outDir: resolve(projectDir, config.outDir ?? DEFAULT_OUT_DIR),
      lockfile: resolve(projectDir, config.lockfile ?? DEFAULT_LOCKFILE),
      sourceDateEpoch: config.sourceDateEpoch ?? 0,
    },
  };
}

/** Validate a parsed config (pure: no file access); throws one ConfigError listing every issue. */
export function validateConfig(raw: unknown, projectDir: string, configFile = 'builder.config.json'): ProjectConfig {
  const { issues, config } = checkConfig(raw, projectDir, configFile);
  if (!config) throw new ConfigError(configFile, issues);
  return config;
}
