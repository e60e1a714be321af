import type { ElfFacts } from './read-elf.js';

/** Numeric dotted comparison: '2.38' > '2.36', '2.2.5' < '2.3'. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((n) => Number.parseInt(n, 10) || 0);
  const pb = b.split('.').map((n) => Number.parseInt(n, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** The highest GLIBC_x.y an object requires and the symbols that need exactly that version. */
export function glibcRequirement(facts: ElfFacts): { version: string; symbols: string[] } | null {
  const glibc = facts.versionedImports.filter((i) => i.version.startsWith('GLIBC_') && /^GLIBC_\d/.test(i.version));
  if (glibc.length === 0) return null;
  const highest = glibc.map((i) => i.version.slice(6)).reduce((a, b) => (compareVersions(a, b) >= 0 ? a : b));
  const symbols = [...new Set(glibc.filter((i) => i.version === `GLIBC_${highest}`).map((i) => i.symbol))].sort();
  return { version: highest, symbols };
}
