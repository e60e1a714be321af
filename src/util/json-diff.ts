import { canonicalJson } from './canonical-json.js';

/** The leaf paths where two JSON values differ (`builder.imageId: "a" → "b"`), at most `limit`. */
export function jsonDifferences(a: unknown, b: unknown, path = '', limit = 8, out: string[] = []): string[] {
  if (out.length >= limit) return out;
  const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isObject(a) && isObject(b)) {
    for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) jsonDifferences(a[key], b[key], path ? `${path}.${key}` : key, limit, out);
  } else if (canonicalJson(a ?? null) !== canonicalJson(b ?? null)) {
    const show = (v: unknown) => (v === undefined ? '(absent)' : JSON.stringify(v).slice(0, 100));
    if (out.length < limit) out.push(`${path}: ${show(a)} → ${show(b)}`);
  }
  return out;
}
