/** Which package provides a well-known shared library, for "what provides it" in fixes. */
const PROVIDERS: Record<string, { apt: string; apk: string }> = {
  'libz.so.1': { apt: 'zlib1g', apk: 'zlib' },
  'libssl.so.3': { apt: 'libssl3 (libssl3t64 on trixie)', apk: 'libssl3' },
  'libcrypto.so.3': { apt: 'libssl3 (libssl3t64 on trixie)', apk: 'libcrypto3' },
  'libstdc++.so.6': { apt: 'libstdc++6', apk: 'libstdc++' },
  'libgcc_s.so.1': { apt: 'libgcc-s1', apk: 'libgcc' },
  'libffi.so.8': { apt: 'libffi8', apk: 'libffi' },
  'libsqlite3.so.0': { apt: 'libsqlite3-0', apk: 'sqlite-libs' },
  'libcurl.so.4': { apt: 'libcurl4 (libcurl4t64 on trixie)', apk: 'libcurl' },
  'libuuid.so.1': { apt: 'libuuid1', apk: 'libuuid' },
  'libbz2.so.1.0': { apt: 'libbz2-1.0', apk: 'libbz2' },
  'liblzma.so.5': { apt: 'liblzma5', apk: 'xz-libs' },
  'libzstd.so.1': { apt: 'libzstd1', apk: 'zstd-libs' },
};

export function providerHint(soname: string, osId: string): string {
  const known = PROVIDERS[soname];
  if (!known) return `install the package that provides ${soname} in the host image`;
  return osId === 'alpine' ? `apk add ${known.apk}` : `apt-get install ${known.apt} in the host image`;
}
