import { readElfHeader } from '../elf/elf-header.js';
import type { EnvironmentFingerprint, LibcFamily } from './fingerprint.js';
import type { RootFileSource } from './file-source.js';

/** Why a probe could not produce a fingerprint (the caller wraps it into a ProbeError). */
export class ProbeFailure extends Error {}

const OS_RELEASE_PATHS = ['/etc/os-release', '/usr/lib/os-release'];

// Multiarch and plain library directories, in the order a dynamic loader would consult them.
const LIB_DIRS = [
  '/lib/x86_64-linux-gnu',
  '/usr/lib/x86_64-linux-gnu',
  '/lib/aarch64-linux-gnu',
  '/usr/lib/aarch64-linux-gnu',
  '/lib64',
  '/usr/lib64',
  '/lib',
  '/usr/lib',
];
const MUSL_LOADERS = ['x86_64', 'aarch64', 'armhf', 'i386', 'riscv64', 'ppc64le', 's390x'].map(
  (arch) => `/lib/ld-musl-${arch}.so.1`,
);

export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (!match) continue;
    let value = match[2] ?? '';
    if (/^".*"$|^'.*'$/.test(value)) value = value.slice(1, -1).replace(/\\(["'$`\\])/g, '$1');
    out[match[1] as string] = value;
  }
  return out;
}

/** glibc's libc.so.6 carries its banner: "... stable release version 2.36." */
export function glibcVersionFromLibc(bytes: Buffer): string | null {
  const match = /release version (\d+\.\d+(?:\.\d+)?)/.exec(bytes.toString('latin1'));
  return match ? (match[1] as string) : null;
}

/** Version of musl from a package database (Alpine's apk, or dpkg on a Debian-made image). */
export function muslVersionFromPackageDb(apkInstalled: string | null, dpkgStatus: string | null): string | null {
  if (apkInstalled) {
    const match = /(?:^|\n)P:musl\nV:([0-9.]+)/.exec(apkInstalled);
    if (match) return match[1] as string;
  }
  if (dpkgStatus) {
    const match = /(?:^|\n)Package: musl\n(?:[^\n]+\n)*?Version: (?:\d+:)?([0-9.]+)/.exec(dpkgStatus);
    if (match) return match[1] as string;
  }
  return null;
}

/**
 * musl keeps its version as a plain string (`__libc_version`) next to the loader's usage
 * text; used when no package database says which musl this is (a hand-made image).
 */
export function muslVersionFromLoader(bytes: Buffer): string | null {
  const text = bytes.toString('latin1');
  const anchor = text.indexOf('musl libc');
  if (anchor < 0) return null;
  const re = /\x00(1\.\d+\.\d+)\x00/g;
  let best: { version: string; distance: number } | null = null;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const distance = Math.abs(m.index - anchor);
    if (!best || distance < best.distance) best = { version: m[1] as string, distance };
  }
  return best?.version ?? null;
}

async function firstFile(source: RootFileSource, paths: readonly string[]): Promise<{ path: string; data: Buffer } | null> {
  for (const path of paths) {
    const data = await source.readFile(path);
    if (data) return { path, data };
  }
  return null;
}

async function readText(source: RootFileSource, path: string): Promise<string | null> {
  return (await source.readFile(path))?.toString('utf8') ?? null;
}

/**
 * Compute the environment fingerprint of a root filesystem from files alone — no shell, no
 * process in the target — so it works on distroless images and live inside a host alike.
 */
export interface ProbeOptions {
  /**
   * Which C library to report when the filesystem has both (a Debian builder with musl-tools
   * installed targets musl): the one plugins are built against, not the one the OS runs on.
   */
  libc?: LibcFamily;
}

export async function probeEnvironment(source: RootFileSource, options: ProbeOptions = {}): Promise<EnvironmentFingerprint> {
  const osRelease = await firstFile(source, OS_RELEASE_PATHS);
  if (!osRelease) throw new ProbeFailure('no /etc/os-release or /usr/lib/os-release');
  const os = parseOsRelease(osRelease.data.toString('utf8'));
  if (!os.ID) throw new ProbeFailure(`${osRelease.path} has no ID= line`);

  let family: LibcFamily;
  let version: string | null;
  let libcBytes: Buffer;
  // A Debian image with musl-tools has both; the system libc is glibc when libc.so.6 exists,
  // unless the caller asks for the musl a cross toolchain links against.
  const musl = options.libc === 'musl' ? await firstFile(source, MUSL_LOADERS) : null;
  const glibc = musl ? null : await firstFile(source, LIB_DIRS.map((dir) => `${dir}/libc.so.6`));
  if (glibc) {
    family = 'glibc';
    libcBytes = glibc.data;
    version = glibcVersionFromLibc(glibc.data);
    if (!version) throw new ProbeFailure(`${glibc.path} carries no glibc release banner`);
  } else {
    const loader = musl ?? (await firstFile(source, MUSL_LOADERS));
    if (!loader) throw new ProbeFailure('found neither glibc (libc.so.6) nor a musl loader (/lib/ld-musl-*.so.1)');
    family = 'musl';
    libcBytes = loader.data;
    version =
      muslVersionFromPackageDb(await readText(source, '/lib/apk/db/installed'), await readText(source, '/var/lib/dpkg/status')) ??
      muslVersionFromLoader(loader.data);
    if (!version) throw new ProbeFailure(`cannot tell the musl version of ${loader.path}`);
  }
  const elf = readElfHeader(libcBytes);
  if (!elf) throw new ProbeFailure('the C library is not an ELF file');

  return {
    os: { id: os.ID, versionId: os.VERSION_ID ?? '' },
    arch: elf.machine,
    libc: { family, version },
  };
}
