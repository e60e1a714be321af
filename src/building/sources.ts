import { lstat, readdir } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { BuilderError } from '../errors.js';
import { sha256FileHex } from '../util/sha256.js';
import { type IgnoreRule, isIgnored } from '../config/ignore-patterns.js';

/** Sources always sit under this path in the build container: paths in debug info stay fixed. */
export const SOURCE_DIR = '/src';

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
/**
 * A file name as text, or SOURCE_NAME_NOT_UTF8: sources travel to the builder by name and are
 * locked by name (JSON, UTF-8), so a name that is not UTF-8 can be neither sent nor locked
 * faithfully. Refused by name, its bytes shown escaped, rather than built under a lossy name.
 */
function utf8Name(raw: Buffer, dir: string): string {
  const name = raw.toString('utf8');
  if (Buffer.from(name, 'utf8').equals(raw)) return name;
  const shown = [...raw].map((b) => (b >= 0x20 && b < 0x7f && b !== 0x5c ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
  throw new BuilderError('SOURCE_NAME_NOT_UTF8', `A source file name in ${dir} is not UTF-8: "${shown}".`, {
    fix: 'Rename it to a UTF-8 name (convmv -f latin1 -t utf8 --notest, or mv), or leave it out of the plugin directory; names are sent and locked as UTF-8.',
  });
}

export async function collectSources(dir: string, rules: readonly IgnoreRule[] = []): Promise<SourceFile[]> {
  const files: SourceFile[] = [];
  async function walk(current: string): Promise<void> {
    // Names as bytes: a name that is not UTF-8 would come back from a string readdir with U+FFFD
    // in it, naming a file that does not exist (ENOENT for a file that is there).
    const entries = await readdir(current, { withFileTypes: true, encoding: 'buffer' });
    for (const entry of entries) {
      const name = utf8Name(entry.name as unknown as Buffer, current);
      if (name.startsWith('.')) continue;
      const full = join(current, name);
      const rel = relative(dir, full).split(sep).join('/');
      // Left out before anything else: an excluded directory is not walked (its links, FIFOs or
      // millions of files never matter), an excluded file neither hashed nor uploaded.
      if (isIgnored(rel, entry.isDirectory(), rules)) continue;
      if (entry.isSymbolicLink()) {
        throw new BuilderError('SOURCE_SYMLINK', `Plugin source ${full} is a symbolic link.`, {
          fix: 'Replace the link with the file itself; sources are sent to the builder as they are in the plugin directory.',
        });
      }
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) files.push({ path: rel, sha256: await sha256FileHex(full) });
    }
  }
  const info = await lstat(dir);
  if (!info.isDirectory()) throw new BuilderError('SOURCE_MISSING', `${dir} is not a directory.`);
  await walk(dir);
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
