import type { RootFileSource } from '../env/file-source.js';
import type { EnvironmentFingerprint } from '../env/fingerprint.js';
import { type ElfFacts, ElfFormatError, readElf } from '../elf/read-elf.js';

export interface ResolvedLibrary {
  name: string;
  path: string;
  facts: ElfFacts;
}

export interface LibraryLookup {
  find(name: string): Promise<ResolvedLibrary | null>;
}

const MULTIARCH: Record<string, string> = { x86_64: 'x86_64-linux-gnu', aarch64: 'aarch64-linux-gnu' };

/** The directories the host's dynamic loader searches by default, in its order. */
export async function librarySearchPath(files: RootFileSource, fingerprint: EnvironmentFingerprint): Promise<string[]> {
  if (fingerprint.libc.family === 'musl') {
    // musl reads /etc/ld-musl-<arch>.path when present, else uses this default.
    const custom = await files.readFile(`/etc/ld-musl-${fingerprint.arch}.path`);
    const listed = custom?.toString('utf8').split(/[\n:]/).map((s) => s.trim()).filter((s) => s.startsWith('/'));
    return listed && listed.length > 0 ? listed : ['/lib', '/usr/local/lib', '/usr/lib'];
  }
  const triplet = MULTIARCH[fingerprint.arch];
  const multiarch = triplet ? [`/usr/local/lib/${triplet}`, `/lib/${triplet}`, `/usr/lib/${triplet}`] : [];
  return ['/usr/local/lib', ...multiarch, '/lib64', '/usr/lib64', '/lib', '/usr/lib'];
}

/**
 * Finds libraries in an image (or the live system) the way the loader would: the first file
 * of that name on the search path that is an ELF object of the same class and machine.
 * Linker scripts (glibc's text libc.so) and foreign-architecture files are skipped.
 */
export function imageLibraries(files: RootFileSource, searchPath: readonly string[], want: { class: 32 | 64; machine: string }): LibraryLookup {
  const cache = new Map<string, Promise<ResolvedLibrary | null>>();
  const lookup = async (name: string): Promise<ResolvedLibrary | null> => {
    const candidates = name.includes('/') ? [name] : searchPath.map((dir) => `${dir}/${name}`);
    for (const path of candidates) {
      const bytes = await files.readFile(path);
      if (!bytes) continue;
      let facts: ElfFacts;
      try {
        facts = readElf(bytes);
      } catch (err) {
        if (err instanceof ElfFormatError) continue;
        throw err;
      }
      if (facts.class === want.class && facts.machine === want.machine) return { name, path, facts };
    }
    return null;
  };
  return {
    find(name: string) {
      let hit = cache.get(name);
      if (!hit) {
        hit = lookup(name);
        cache.set(name, hit);
      }
      return hit;
    },
  };
}
