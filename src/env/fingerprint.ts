import type { FieldDifference } from '../errors.js';
import { canonicalJson } from '../util/canonical-json.js';
import { sha256Tagged } from '../util/sha256.js';

export type LibcFamily = 'glibc' | 'musl';

/**
 * What a shared object's loadability depends on. Computed by ONE function (probeEnvironment)
 * from either an image or the live filesystem, so equal environments hash equally.
 */
export interface EnvironmentFingerprint {
  os: { id: string; versionId: string };
  /** ELF machine of the system C library: `x86_64`, `aarch64`, … */
  arch: string;
  libc: { family: LibcFamily; version: string };
  /** For Go hosts (config host.binary): what a go-plugin must match exactly. */
  go?: GoFingerprint;
}

export interface GoFingerprint {
  /** `go1.19.8`: a plugin built by any other Go crashes the host. */
  version: string;
  /** Build settings a plugin must share: GOOS, GOARCH, GOAMD64, CGO_ENABLED, -trimpath, -tags, -race, -gcflags, … (PLUGIN_RELEVANT_SETTINGS). */
  settings: Record<string, string>;
  /** Every module the host links, `path → version` (`version => replacement` when replaced). */
  deps: Record<string, string>;
}

export function fingerprintHash(fingerprint: EnvironmentFingerprint): string {
  return sha256Tagged(canonicalJson(fingerprint));
}

function flatten(value: unknown, prefix: string, out: Map<string, string>): void {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${key}` : key, out);
  } else {
    out.set(prefix, value === undefined ? '(none)' : typeof value === 'string' ? value : JSON.stringify(value));
  }
}

/** Field-by-field differences, in field order; empty when the fingerprints are equal. */
export function diffFingerprints(expected: EnvironmentFingerprint, actual: EnvironmentFingerprint): FieldDifference[] {
  const a = new Map<string, string>();
  const b = new Map<string, string>();
  flatten(expected, '', a);
  flatten(actual, '', b);
  const fields = [...new Set([...a.keys(), ...b.keys()])].sort();
  return fields
    .filter((field) => a.get(field) !== b.get(field))
    .map((field) => ({ field, expected: a.get(field) ?? '(none)', actual: b.get(field) ?? '(none)' }));
}
