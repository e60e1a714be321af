/**
 * Canonical JSON: object keys sorted by code unit, arrays kept in order. Hashes are taken over
 * the compact form, so two implementations (image probe, live probe) that build equal values
 * produce equal hashes regardless of property insertion order.
 */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

function sortValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortValue);
  if (value !== null && typeof value === 'object') {
    // Null prototype: a key named "__proto__" stays a key instead of replacing the prototype.
    const out = Object.create(null) as Record<string, unknown>;
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortValue(v);
    }
    return out;
  }
  return value;
}

/** Sorted keys, no whitespace: the form that gets hashed. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortValue(value));
}

/** Sorted keys, 2-space indent, trailing newline: the form that gets written and diffed. */
export function prettyCanonicalJson(value: unknown): string {
  return JSON.stringify(sortValue(value), null, 2) + '\n';
}
