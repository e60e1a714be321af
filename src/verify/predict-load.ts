import type { EnvironmentFingerprint, LibcFamily } from '../env/fingerprint.js';
import type { ElfFacts } from '../elf/read-elf.js';
import type { LibraryLookup, ResolvedLibrary } from './image-libraries.js';
import { providerHint } from './library-hints.js';

export type LoadCheck = 'arch' | 'libc-family' | 'missing-library' | 'symbol-version' | 'missing-symbol';

export interface LoadProblem {
  check: LoadCheck;
  message: string;
  fix: string;
}

export interface LoadTarget {
  fingerprint: EnvironmentFingerprint;
  libraries: LibraryLookup;
}

const MAX_LISTED = 8;
const list = (items: readonly string[]) =>
  items.slice(0, MAX_LISTED).join(', ') + (items.length > MAX_LISTED ? ` and ${items.length - MAX_LISTED} more` : '');

/** Which C library a shared object was linked against, from what it asks the loader for. */
export function builtAgainst(facts: ElfFacts): LibcFamily | null {
  if (facts.interpreter?.includes('ld-musl') || facts.needed.includes('libc.so')) return 'musl';
  if (facts.needed.includes('libc.so.6') || facts.versionNeeds.some((n) => n.versions.some((v) => v.startsWith('GLIBC_')))) return 'glibc';
  return null;
}

/**
 * musl's loader answers these names with itself (its glibc compatibility: libc.so.6,
 * libm.so.6, libpthread.so.0, …), exactly as ldso/dynlink.c's reserved list does.
 */
export function isMuslBuiltin(name: string): boolean {
  if (!name.startsWith('lib')) return name.startsWith('ld-musl');
  return ['c.', 'pthread.', 'rt.', 'm.', 'dl.', 'util.', 'xnet.'].some((prefix) => name.startsWith(prefix, 3));
}

/**
 * Predict whether the host's dynamic loader would load this object with RTLD_NOW, by doing
 * what it does: find every DT_NEEDED library on the host's search path, check every required
 * symbol version (glibc; musl ignores versions), and resolve every strong undefined symbol.
 * Returns the problems; none means it would load.
 */
export async function predictLoad(plugin: ElfFacts, target: LoadTarget): Promise<LoadProblem[]> {
  const host = target.fingerprint;
  const hostLibc = `${host.libc.family} ${host.libc.version}`;
  if (plugin.machine !== host.arch) {
    return [{ check: 'arch', message: `built for ${plugin.machine}, this host is ${host.arch}`, fix: `rebuild it for ${host.arch} with builder build against this host image` }];
  }
  const family = builtAgainst(plugin);
  if (family === 'musl' && host.libc.family === 'glibc') {
    return [{
      check: 'libc-family',
      message: `built against musl (it needs ${plugin.needed.includes('libc.so') ? "musl's libc.so" : 'the musl loader'}), this host has ${hostLibc}`,
      fix: 'rebuild it with builder build against this host image: a glibc host needs a glibc build',
    }];
  }

  const problems: LoadProblem[] = [];
  const resolved = new Map<string, ResolvedLibrary>();
  const musl = host.libc.family === 'musl';
  const muslSelf = musl ? await target.libraries.find(`ld-musl-${host.arch}.so.1`) : null;
  for (const name of plugin.needed) {
    const library = musl && isMuslBuiltin(name) ? muslSelf : await target.libraries.find(name);
    if (library) resolved.set(name, library);
    else problems.push({ check: 'missing-library', message: `needs ${name}, which is not on this host's library path`, fix: providerHint(name, host.os.id) });
  }

  const failedVersions = new Set<string>();
  if (!musl) {
    for (const need of plugin.versionNeeds) {
      const library = resolved.get(need.library);
      if (!library) continue;
      for (const version of need.versions) {
        if (library.facts.versionDefinitions.includes(version)) continue;
        failedVersions.add(`${need.library}\0${version}`);
        const symbols = plugin.versionedImports.filter((i) => i.library === need.library && i.version === version).map((i) => i.symbol);
        const provided = library.facts.versionDefinitions.filter((v) => v.split('_')[0] === version.split('_')[0]);
        problems.push({
          check: 'symbol-version',
          message:
            `${symbols.length > 0 ? list(symbols) : 'it'} need${symbols.length === 1 ? 's' : ''} ${version} from ${need.library}, ` +
            `but this host's ${library.path} (${hostLibc}) ${provided.length > 0 ? `provides up to ${provided[provided.length - 1]}` : `does not define ${version}`}`,
          fix: `build on (or for) this host image with builder build, or avoid ${symbols.length > 0 ? list(symbols) : 'symbols'} newer than the host's ${need.library}`,
        });
      }
    }
  }

  // Symbols come from the needed libraries and what they in turn need (libc.so.6 → ld-linux).
  const scope = new Set<string>();
  const addScope = async (library: ResolvedLibrary, depth: number) => {
    for (const symbol of library.facts.exports) scope.add(symbol);
    if (depth === 0) return;
    for (const name of library.facts.needed) {
      const next = musl && isMuslBuiltin(name) ? muslSelf : await target.libraries.find(name);
      if (next) await addScope(next, depth - 1);
    }
  };
  for (const library of resolved.values()) await addScope(library, 1);
  if (resolved.size === plugin.needed.length) {
    const missing = plugin.imports
      .filter((i) => !i.weak && !scope.has(i.symbol))
      .filter((i) => !(i.version && [...failedVersions].some((key) => key.endsWith(`\0${i.version}`))))
      .map((i) => i.symbol);
    if (missing.length > 0) {
      problems.push({
        check: 'missing-symbol',
        message: `${list([...new Set(missing)].sort())} ${missing.length === 1 ? 'is' : 'are'} not defined by any library it loads on this host (${hostLibc})`,
        fix: musl && family === 'glibc'
          ? 'these are glibc-only symbols: rebuild it with builder build against this musl host image'
          : 'rebuild it with builder build against this host image, or link the library that defines them',
      });
    }
  }
  return problems;
}
