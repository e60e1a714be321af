/**
 * What the host's glibc makes of the CPU it runs on, as its own `ld.so --help` reports it: the
 * glibc-hwcaps subdirectories it searches (x86-64-v4 … v2, most preferred first), the legacy
 * hwcaps subdirectories (glibc < 2.37: tls, the platform, hwcap names), and so the x86 ISA
 * level a GNU_PROPERTY_X86_ISA_1_NEEDED note is checked against.
 */
export interface LoaderCpuView {
  /** glibc-hwcaps subdirectory names searched, in priority order. */
  hwcaps: string[];
  /** Legacy subdirectories searched in every directory after glibc-hwcaps (glibc < 2.37), in order, "" excluded. */
  legacy: string[];
  /** GNU_PROPERTY_X86_ISA_1 bits the CPU satisfies (baseline 1, v2 2, v3 4, v4 8). */
  x86IsaLevels: number;
}

const X86_ISA_BITS: Record<string, number> = { 'x86-64-v2': 2, 'x86-64-v3': 4, 'x86-64-v4': 8 };

/**
 * glibc 2.36's legacy search list in one directory: every subset of [hwcap names…, platform,
 * "tls"], the largest first, each written with its later components first (_dl_important_hwcaps).
 */
export function legacySubdirectories(hwcapNames: readonly string[], platform: string | null): string[] {
  const parts = [...hwcapNames, ...(platform ? [platform] : []), 'tls'];
  const out: string[] = [];
  for (let mask = 2 ** parts.length - 1; mask > 0; mask--) {
    out.push(parts.filter((_, i) => (mask & (1 << i)) !== 0).reverse().join('/'));
  }
  return [...new Set(out)];
}

const MAX_HELP_BYTES = 64 * 1024;
const MAX_LEGACY_NAMES = 8;

/** Parse `ld.so --help` (glibc ≥ 2.33); null when the text is not that. */
export function parseLdSoHelp(text: string): LoaderCpuView | null {
  const lines = text.slice(0, MAX_HELP_BYTES).split('\n');
  const start = lines.findIndex((l) => l.startsWith('Subdirectories of glibc-hwcaps directories'));
  if (start < 0) return null;
  const hwcaps: string[] = [];
  let at = start + 1;
  for (; at < lines.length && /^\s+\S/.test(lines[at] as string); at++) {
    const m = /^\s+(\S+)\s+\(supported, searched\)/.exec(lines[at] as string);
    if (m) hwcaps.push(m[1] as string);
  }
  const legacyStart = lines.findIndex((l) => l.startsWith('Legacy HWCAP subdirectories'));
  const names: string[] = [];
  let platform: string | null = null;
  let tls = false;
  if (legacyStart >= 0) {
    for (let i = legacyStart + 1; i < lines.length && /^\s+\S/.test(lines[i] as string); i++) {
      const m = /^\s+(\S+)\s+\((AT_PLATFORM; )?supported, searched\)/.exec(lines[i] as string);
      if (!m) continue;
      if (m[2]) platform = m[1] as string;
      else if (m[1] === 'tls') tls = true;
      // glibc has at most a few hwcap names (x86_64, avx512_1; atomics): the power set stays small.
      else if (names.length < MAX_LEGACY_NAMES) names.push(m[1] as string);
    }
  }
  const x86IsaLevels = hwcaps.reduce((bits, h) => bits | (X86_ISA_BITS[h] ?? 0), 1);
  return { hwcaps, legacy: tls || platform || names.length > 0 ? legacySubdirectories(names, platform) : [], x86IsaLevels };
}
