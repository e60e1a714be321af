/**
 * Platforms as OCI names them (`linux/arm64`), derived from what the ELF says: the machine of
 * the image's C library (`aarch64`), never the image config's Architecture, which `docker import`
 * sets to the importing engine's whatever the files are.
 */

/** ELF machine name (elf-header.ts) → OCI architecture. */
const OCI_ARCH_OF_MACHINE: Readonly<Record<string, string>> = {
  x86_64: 'amd64',
  aarch64: 'arm64',
  i386: '386',
  arm: 'arm',
  riscv64: 'riscv64',
  ppc64: 'ppc64le',
  s390x: 's390x',
};

export const PLATFORMS = Object.values(OCI_ARCH_OF_MACHINE).map((arch) => `linux/${arch}`);
export const PLATFORM_PATTERN = new RegExp(`^(${PLATFORMS.map((p) => p.replace('/', '\\/')).join('|')})$`);

/** `linux/arm64` for an `aarch64` fingerprint; null for a machine with no OCI name here. */
export function platformOfMachine(machine: string): string | null {
  const arch = Object.hasOwn(OCI_ARCH_OF_MACHINE, machine) ? OCI_ARCH_OF_MACHINE[machine] : undefined;
  return arch ? `linux/${arch}` : null;
}

/** The ELF machine a platform's code is for (`linux/arm64` → `aarch64`). */
export function machineOfPlatform(platform: string): string | null {
  const arch = platform.split('/')[1];
  return Object.entries(OCI_ARCH_OF_MACHINE).find(([, a]) => a === arch)?.[0] ?? null;
}

/** The subdirectory a platform's artifacts live in, beside the others (`linux-arm64`): one path component. */
export function platformDir(platform: string): string {
  return platform.replace('/', '-');
}

/** An artifact's path relative to the plugin directory: `libgreet.so`, or `linux-arm64/libgreet.so` for a platform's. */
export const platformFile = (dir: string, file: string): string => (dir ? `${dir}/${file}` : file);
