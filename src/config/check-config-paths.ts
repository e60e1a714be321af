import { readFile, realpath, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ConfigIssue } from '../errors.js';
import { isLocalReplacement, parseGoMod } from '../gomod/parse-go-mod.js';
import { realPathAllowingMissing } from '../util/real-path.js';
import { isCFamily } from './schema.js';
import { isInside, rawOutputs, rawPlugins } from './validate-config.js';

export interface RealPaths {
  projectDir: string;
  /** Real directory of each plugin, by index in the config. */
  pluginDirs: Map<number, string>;
  outDir: string | null;
  lockfile: string | null;
}

const reason = (err: unknown) => ((err as NodeJS.ErrnoException).code ? `${(err as NodeJS.ErrnoException).code}: ${(err as Error).message}` : String(err));

/**
 * The filesystem half of config validation: every path the build reads or writes, resolved
 * with realpath (symbolic links on the way included), must stay inside the project. A link
 * `plugins2 → /elsewhere` would otherwise send files from outside the project into the build,
 * and an outDir through a link would write outside it.
 */
export async function checkConfigPaths(raw: unknown, projectDir: string): Promise<{ issues: ConfigIssue[]; paths: RealPaths }> {
  const issues: ConfigIssue[] = [];
  const project = await realpath(projectDir);
  const paths: RealPaths = { projectDir: project, pluginDirs: new Map(), outDir: null, lockfile: null };
  const outside = (field: string, real: string, written: string) =>
    issues.push({ field, message: `"${written}" resolves to ${real}, outside the project directory ${project}` });

  for (const plugin of rawPlugins(raw)) {
    if (plugin.path === undefined) continue;
    const field = `plugins[${plugin.index}].path`;
    const dir = resolve(projectDir, plugin.path);
    const info = await stat(dir).catch(() => null);
    if (!info || !info.isDirectory()) {
      issues.push({ field, message: info ? `"${plugin.path}" is not a directory` : `directory "${plugin.path}" does not exist` });
      continue;
    }
    const real = await realpath(dir);
    if (!isInside(project, real)) {
      outside(field, real, plugin.path);
      continue;
    }
    paths.pluginDirs.set(plugin.index, real);
    if (plugin.kind === undefined || isCFamily(plugin.kind)) continue;
    const goMod = await readFile(join(real, 'go.mod'), 'utf8').catch(() => null);
    if (goMod === null) continue;
    for (const replacement of parseGoMod(goMod).replace.filter((r) => isLocalReplacement(r.to))) {
      const target = resolve(real, replacement.to);
      const where = `${field} (go.mod: replace ${replacement.from} => ${replacement.to})`;
      const targetReal = await realpath(target).catch(() => null);
      if (targetReal === null) issues.push({ field: where, message: `${target} does not exist` });
      else if (!isInside(project, targetReal)) outside(where, targetReal, replacement.to);
    }
  }

  const outputs = rawOutputs(raw, projectDir);
  for (const field of ['outDir', 'lockfile'] as const) {
    const path = outputs[field];
    if (path === null) continue;
    try {
      const { real, exists } = await realPathAllowingMissing(path);
      if (!isInside(project, real)) {
        outside(field, real, path);
        continue;
      }
      const info = exists ? await stat(real) : null;
      if (field === 'outDir' && info && !info.isDirectory()) issues.push({ field, message: `${real} exists and is not a directory` });
      else if (field === 'lockfile' && info && !info.isFile()) issues.push({ field, message: `${real} exists and is not a regular file` });
      else paths[field] = real;
    } catch (err) {
      issues.push({ field, message: `cannot resolve ${path}: ${reason(err)}` });
    }
  }
  return { issues, paths };
}
