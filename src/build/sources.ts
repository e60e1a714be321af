import { lstat, readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { BuilderError, EXIT_UNUSABLE } from '../errors.js';
import { sha256FileHex } from '../util/sha256.js';
import { type IgnoreRule, isIgnored } from './ignore-patterns.js';

export interface SourceFile {
  /** Path relative to the plugin directory, with `/` separators. */
  path: string;
  sha256: string;
}

/**
 * Every file of a plugin directory, sorted, with its hash. Dot-files and dot-directories
 * (.git, editor state) are left out, and whatever `rules` exclude (ignore-patterns.ts); symlinks are refused because their target would be
 * read from outside the plugin directory and would not travel in the build context.
 */
export async function collectSources(dir: string, rules: readonly IgnoreRule[] = []): Promise<SourceFile[]> {
  const files: SourceFile[] = [];
  async function walk(current: string): Promise<void> {
    const entries = await readdir(current, { withFileTypes: true });
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const full = join(current, entry.name);
      const rel = relative(dir, full).split(sep).join('/');
      // Left out before anything else: an excluded directory is not walked (its links, FIFOs or
      // millions of files never matter), an excluded file neither hashed nor uploaded.
      if (isIgnored(rel, entry.isDirectory(), rules)) continue;
      if (entry.isSymbolicLink()) {
        throw new BuilderError('SOURCE_SYMLINK', `Plugin source ${full} is a symbolic link.`, {
          fix: 'Replace the link with the file itself; sources are sent to the builder as they are in the plugin directory.',
          exitCode: EXIT_UNUSABLE,
        });
      }
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) files.push({ path: rel, sha256: await sha256FileHex(full) });
    }
  }
  const info = await lstat(dir);
  if (!info.isDirectory()) throw new BuilderError('SOURCE_MISSING', `${dir} is not a directory.`, { exitCode: EXIT_UNUSABLE });
  await walk(dir);
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
