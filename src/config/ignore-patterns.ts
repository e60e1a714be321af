/**
 * Which source files a plugin leaves out: its config's `exclude` globs and the lines of a
 * `.builderignore` in the directory, with .gitignore's rules (gitignore(5)) because that is what
 * people already write: `#` comments, `!` re-includes, a trailing `/` matches only directories,
 * a pattern with a `/` before its end is anchored to the directory, one without matches at any
 * depth, `*` and `?` never cross a `/`, `**` spans directories, `[…]` is a character class, and
 * the last matching line wins. A directory left out is not walked, so nothing under it can be
 * taken back in (as with git). Pure: patterns and paths in, verdicts out.
 */

export interface IgnoreRule {
  pattern: string;
  negate: boolean;
  dirOnly: boolean;
  regex: RegExp;
}

export class IgnorePatternError extends Error {}

const MAX_PATTERN = 1024;

/** One pattern (config `exclude` entry or .builderignore line); null for blanks and comments. */
export function parseIgnoreRule(line: string): IgnoreRule | null {
  let text = line.replace(/(?<!\\)\s+$/, '');
  if (text === '' || text.startsWith('#')) return null;
  if (text.length > MAX_PATTERN) throw new IgnorePatternError(`a pattern is at most ${MAX_PATTERN} characters`);
  const negate = text.startsWith('!');
  if (negate) text = text.slice(1);
  if (text.startsWith('\\#') || text.startsWith('\\!')) text = text.slice(1);
  const dirOnly = text.endsWith('/');
  if (dirOnly) text = text.slice(0, -1);
  if (text === '') return null;
  const anchored = text.includes('/');
  if (text.startsWith('/')) text = text.slice(1);
  const body = globToRegex(text);
  try {
    return { pattern: line, negate, dirOnly, regex: new RegExp(anchored ? `^${body}$` : `^(?:.*/)?${body}$`) };
  } catch (err) {
    // A character class such as [z-a]: git would match nothing with it; here it is an error to fix.
    throw new IgnorePatternError(`${JSON.stringify(line.slice(0, 80))} is not a valid pattern (${(err as Error).message.replace(/^Invalid regular expression: /, '')})`);
  }
}

function globToRegex(glob: string): string {
  let out = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        const before = i === 0 || glob[i - 1] === '/';
        const after = glob[i + 2] === '/' || i + 2 === glob.length;
        if (before && after) {
          // `**/` any directories (none included); a trailing `**` everything below.
          if (glob[i + 2] === '/') {
            out += '(?:.*/)?';
            i += 2;
          } else {
            out += '.*';
            i += 1;
          }
          continue;
        }
        i += 1;
      }
      out += '[^/]*';
    } else if (c === '?') {
      out += '[^/]';
    } else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) {
        out += '\\[';
        continue;
      }
      let set = glob.slice(i + 1, end);
      const negated = set.startsWith('!') || set.startsWith('^');
      if (negated) set = set.slice(1);
      out += `[${negated ? '^' : ''}${set.replace(/[\\\]]/g, '\\$&')}]`;
      i = end;
    } else if (c === '\\' && i + 1 < glob.length) {
      out += escapeRegex(glob[++i]!);
    } else {
      out += escapeRegex(c);
    }
  }
  return out;
}

const escapeRegex = (c: string) => c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

export function parseIgnoreFile(text: string): IgnoreRule[] {
  return text.split(/\r?\n/).flatMap((line) => {
    const rule = parseIgnoreRule(line);
    return rule ? [rule] : [];
  });
}

/** Whether `path` (relative, `/`-separated) is left out: the last rule that matches decides. */
export function isIgnored(path: string, isDirectory: boolean, rules: readonly IgnoreRule[]): boolean {
  let ignored = false;
  for (const rule of rules) {
    if (rule.dirOnly && !isDirectory) continue;
    if (rule.regex.test(path)) ignored = !rule.negate;
  }
  return ignored;
}
