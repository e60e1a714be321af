import type { PluginKind } from '../config/config.js';
import type { LibcFamily } from '../env/fingerprint.js';

export type PackageManager = 'apt' | 'apk';

/** Which package manager an OS family uses; null when we cannot install into it. */
export function packageManagerFor(osId: string): PackageManager | null {
  if (['debian', 'ubuntu', 'raspbian', 'linuxmint', 'pop'].includes(osId)) return 'apt';
  if (osId === 'alpine') return 'apk';
  return null;
}

// Go's c-shared mode goes through cgo, so every kind needs the C compiler and libc headers.
const PACKAGES: Record<PackageManager, Record<PluginKind, readonly string[]>> = {
  apt: { c: ['ccache', 'gcc', 'libc6-dev'], cpp: ['ccache', 'g++', 'libc6-dev'], 'go-c-shared': ['gcc', 'libc6-dev', 'golang-go'], 'go-plugin': ['gcc', 'libc6-dev', 'golang-go'] },
  apk: { c: ['ccache', 'gcc', 'musl-dev'], cpp: ['ccache', 'g++', 'musl-dev'], 'go-c-shared': ['gcc', 'musl-dev', 'go'], 'go-plugin': ['gcc', 'musl-dev', 'go'] },
};

// Debian's musl cross toolchain: musl-gcc wraps gcc with musl's headers, crt files and libc.
// Go kinds add Debian's Go: cgo then compiles and links through musl-gcc (CC=musl-gcc).
const APT_MUSL: Record<PluginKind, readonly string[]> = {
  c: ['ccache', 'gcc', 'musl-tools'],
  cpp: ['ccache', 'gcc', 'musl-tools'],
  'go-c-shared': ['gcc', 'musl-tools', 'golang-go'],
  'go-plugin': ['gcc', 'musl-tools', 'golang-go'],
};

/**
 * The packages a builder needs for these plugin kinds plus the user's extras, sorted and
 * unique. `target` is the host's C library: a glibc distribution (apt) building for a musl
 * host installs musl's cross toolchain instead of glibc's headers.
 */
export function toolchainPackages(
  manager: PackageManager,
  kinds: Iterable<PluginKind>,
  extra: readonly string[],
  target: LibcFamily = manager === 'apk' ? 'musl' : 'glibc',
): string[] {
  const all = new Set<string>(extra);
  for (const kind of kinds) {
    const packages = manager === 'apt' && target === 'musl' ? APT_MUSL[kind] : PACKAGES[manager][kind];
    for (const p of packages) all.add(p);
  }
  return [...all].sort();
}

/** The C compiler to call: on a glibc distribution targeting musl, Debian's musl-gcc wrapper. */
export function cCompiler(manager: PackageManager, target: LibcFamily): 'gcc' | 'musl-gcc' {
  return manager === 'apt' && target === 'musl' ? 'musl-gcc' : 'gcc';
}
