import type { PluginKind } from '../config/config.js';

export type PackageManager = 'apt' | 'apk';

/** Which package manager an OS family uses; null when we cannot install into it. */
export function packageManagerFor(osId: string): PackageManager | null {
  if (['debian', 'ubuntu', 'raspbian', 'linuxmint', 'pop'].includes(osId)) return 'apt';
  if (osId === 'alpine') return 'apk';
  return null;
}

// Go's c-shared mode goes through cgo, so every kind needs the C compiler and libc headers.
const PACKAGES: Record<PackageManager, Record<PluginKind, readonly string[]>> = {
  apt: { c: ['gcc', 'libc6-dev'], 'go-c-shared': ['gcc', 'libc6-dev', 'golang-go'] },
  apk: { c: ['gcc', 'musl-dev'], 'go-c-shared': ['gcc', 'musl-dev', 'go'] },
};

/** The packages a builder needs for these plugin kinds plus the user's extras, sorted and unique. */
export function toolchainPackages(manager: PackageManager, kinds: Iterable<PluginKind>, extra: readonly string[]): string[] {
  const all = new Set<string>(extra);
  for (const kind of kinds) for (const p of PACKAGES[manager][kind]) all.add(p);
  return [...all].sort();
}
