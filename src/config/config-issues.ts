import type { z } from 'zod';
import type { ConfigIssue } from '../errors.js';
import { knownKeysAt } from './schema.js';

export function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out ? `.${String(part)}` : String(part);
  return out || '(root)';
}

/** What a JSON value is, in the words of the JSON a user wrote. */
export function jsonTypeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `a string (${JSON.stringify(value.length > 40 ? value.slice(0, 40) + '…' : value)})`;
  if (typeof value === 'number') return Number.isInteger(value) ? `a number (${value})` : `a fractional number (${value})`;
  return `a ${typeof value}${typeof value === 'boolean' ? ` (${value})` : ''}`;
}

const EXPECTED: Record<string, string> = { string: 'a string', number: 'a number', int: 'a whole number', array: 'an array', object: 'an object', boolean: 'true or false' };

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j] as number;
      row[j] = Math.min(above + 1, (row[j - 1] as number) + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length] as number;
}

/** The known key closest to `key` when it is close enough to be a typo, else null. */
export function suggestKey(key: string, known: readonly string[]): string | null {
  let best: { key: string; distance: number } | null = null;
  for (const candidate of known) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (!best || distance < best.distance) best = { key: candidate, distance };
  }
  if (!best) return null;
  const allowed = Math.max(1, Math.floor(Math.max(key.length, best.key.length) / 3));
  return best.distance <= allowed ? best.key : null;
}

/** zod's issues, one per problem, in the words of the config file. */
export function schemaIssues(issues: readonly z.core.$ZodIssue[]): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeysAt(issue.path);
      for (const key of issue.keys) {
        const suggestion = suggestKey(key, known);
        out.push({
          field: fieldPath([...issue.path, key]),
          message: `unknown key${suggestion ? `; did you mean "${suggestion}"?` : ''} (allowed here: ${known.filter((k) => k !== '$schema').join(', ')})`,
        });
      }
    } else if (issue.code === 'invalid_type') {
      const expected = EXPECTED[issue.expected] ?? issue.expected;
      out.push({ field: fieldPath(issue.path), message: issue.input === undefined ? 'is required' : `expected ${expected}, received ${jsonTypeOf(issue.input)}` });
    } else {
      out.push({ field: fieldPath(issue.path), message: issue.message });
    }
  }
  return out;
}
