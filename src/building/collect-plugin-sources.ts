import { readFile, realpath } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { PluginConfig } from '../config/config.js';
import { isCFamily } from '../config/schema.js';
import { BuilderError } from '../errors.js';
import { type GoModFile, isLocalReplacement, parseGoMod } from '../gomod/parse-go-mod.js';
import { readSmallFile, UnsafeFileError } from '../util/safe-file.js';
import { type IgnoreRule, parseIgnoreFile, parseIgnoreRule } from '../config/ignore-patterns.js';
import { collectSources, type SourceFile, SOURCE_DIR } from './sources.js';

/** Patterns of files a plugin directory leaves out of its sources, as in .gitignore. */
export const IGNORE_FILE = '.builderignore';

export interface PluginSources {
  /** Files relative to the project directory, sorted; sent to the container under SOURCE_DIR. */
  files: SourceFile[];
  /** Where the build runs in the container: the plugin's directory under SOURCE_DIR. */
  workdir: string;
  /** The plugin's go.mod, for Go kinds. */
  goMod: GoModFile | null;
}

const toPosix = (path: string) => path.split(sep).join('/');

const MAX_IGNORE_FILE = 256 * 1024;

function excludeRules(plugin: PluginConfig): IgnoreRule[] {
  return plugin.exclude.flatMap((pattern) => {
    const rule = parseIgnoreRule(pattern);
    return rule ? [rule] : [];
  });
}

/** `.builderignore` in `dir`, if there is one: a regular file (a FIFO there must not hang the build) of sane size. */
async function readIgnoreFile(dir: string): Promise<IgnoreRule[]> {
  const path = join(dir, IGNORE_FILE);
  let text: string;
  try {
    text = (await readSmallFile(path, IGNORE_FILE, MAX_IGNORE_FILE)).toString('utf8');
  } catch (err) {
    if (err instanceof UnsafeFileError && err.code === 'FILE_MISSING') return [];
    const problem = err instanceof UnsafeFileError && err.code === 'NOT_A_REGULAR_FILE' ? 'is not a regular file' : err instanceof UnsafeFileError && err.code === 'FILE_TOO_LARGE' ? `is over ${MAX_IGNORE_FILE} bytes` : `cannot be read (${(err as Error).message})`;
    throw new BuilderError('BAD_IGNORE_FILE', `${path} ${problem}.`, { fix: 'Make it a plain text file of patterns, one per line, as in .gitignore.' });
  }
  try {
    return parseIgnoreFile(text);
  } catch (err) {
    throw new BuilderError('BAD_IGNORE_FILE', `${path}: ${(err as Error).message}.`);
  }
}

export async function collectPluginSources(plugin: PluginConfig, projectDir: string): Promise<PluginSources> {
  const dirs = [plugin.dir];
  let goMod: GoModFile | null = null;
  if (!isCFamily(plugin.kind)) {
    const text = await readFile(join(plugin.dir, 'go.mod'), 'utf8').catch(() => null);
    if (text !== null) {
      goMod = parseGoMod(text);
      for (const r of goMod.replace.filter((r) => isLocalReplacement(r.to))) {
        // By real path: a link on the way must not carry files from outside the project into the build.
        const target = await realpath(resolve(plugin.dir, r.to)).catch(() => resolve(plugin.dir, r.to));
        const rel = relative(projectDir, target);
        if (rel.startsWith('..') || isAbsolute(rel)) {
          throw new BuilderError('SOURCE_OUTSIDE_PROJECT', `Plugin "${plugin.name}": go.mod replaces ${r.from} with ${r.to}, whose real path ${target} is outside the project ${projectDir}.`, {
            fix: 'Move the replaced module inside the project directory (or vendor it), so it can be sent to the builder.',
          });
        }
        dirs.push(target);
      }
    }
  }
  const seen = new Map<string, SourceFile>();
  for (const dir of dirs) {
    const prefix = toPosix(relative(projectDir, dir));
    // The directory's own .builderignore, then (for the plugin's directory) the config's exclude: the last match wins.
    const rules = [...(await readIgnoreFile(dir)), ...(dir === plugin.dir ? excludeRules(plugin) : [])];
    for (const file of await collectSources(dir, rules)) {
      const path = prefix ? `${prefix}/${file.path}` : file.path;
      seen.set(path, { path, sha256: file.sha256 });
    }
  }
  const files = [...seen.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  if (files.length === 0) {
    throw new BuilderError('NO_SOURCES', `Plugin "${plugin.name}" has no source files in ${plugin.dir}${plugin.exclude.length > 0 ? ' once its exclude patterns are applied' : ''}.`, {
      fix: 'Check plugins[].path, the plugin\'s exclude patterns and its .builderignore.',
    });
  }
  const relDir = toPosix(relative(projectDir, plugin.dir));
  return { files, workdir: relDir ? `${SOURCE_DIR}/${relDir}` : SOURCE_DIR, goMod };
}
