/** The parts of a go.mod that decide which module versions a build links. */
export interface GoModFile {
  module: string | null;
  go: string | null;
  require: Array<{ path: string; version: string; indirect: boolean }>;
  replace: Array<{ from: string; fromVersion: string | null; to: string; toVersion: string | null }>;
}

function unquote(token: string): string {
  return token.startsWith('"') && token.endsWith('"') ? JSON.parse(token) : token.startsWith('`') ? token.slice(1, -1) : token;
}

function tokens(line: string): string[] {
  return (line.match(/"(?:[^"\\]|\\.)*"|`[^`]*`|\S+/g) ?? []).map(unquote);
}

/**
 * Parse go.mod's module, go, require and replace directives (single-line and block forms).
 * Enough for comparing requirements; not a full implementation of the module grammar.
 */
export function parseGoMod(text: string): GoModFile {
  const out: GoModFile = { module: null, go: null, require: [], replace: [] };
  let block: string | null = null;
  for (const raw of text.split('\n')) {
    const comment = raw.indexOf('//');
    const indirect = comment >= 0 && /\/\/\s*indirect\b/.test(raw.slice(comment));
    const line = (comment >= 0 ? raw.slice(0, comment) : raw).trim();
    if (!line) continue;
    if (block) {
      if (line === ')') {
        block = null;
        continue;
      }
      directive(block, tokens(line), indirect);
      continue;
    }
    const [verb, ...rest] = tokens(line);
    if (rest.length === 1 && rest[0] === '(') {
      block = verb ?? null;
      continue;
    }
    if (verb) directive(verb, rest, indirect);
  }
  return out;

  function directive(verb: string, args: string[], indirect: boolean): void {
    if (verb === 'module' && args[0]) out.module = args[0];
    else if (verb === 'go' && args[0]) out.go = args[0];
    else if (verb === 'require' && args.length >= 2) out.require.push({ path: args[0] as string, version: args[1] as string, indirect });
    else if (verb === 'replace') {
      const arrow = args.indexOf('=>');
      if (arrow < 1) return;
      const left = args.slice(0, arrow);
      const right = args.slice(arrow + 1);
      if (!right[0]) return;
      out.replace.push({ from: left[0] as string, fromVersion: left[1] ?? null, to: right[0], toVersion: right[1] ?? null });
    }
  }
}

/** A replacement by a directory (`./x`, `../x`, `/abs`) rather than by another module. */
export function isLocalReplacement(target: string): boolean {
  return target.startsWith('./') || target.startsWith('../') || target.startsWith('/') || target === '.' || target === '..';
}
