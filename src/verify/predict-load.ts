import { dirname } from 'node:path';
import type { EnvironmentFingerprint, LibcFamily } from '../env/fingerprint.js';
import type { ElfFacts } from '../elf/read-elf.js';
import { compareVersions } from '../elf/versions.js';
import { providerHint } from './library-hints.js';
import { type FoundLibrary, isFound, isMuslBuiltin, type LibraryLookup, type Requester, walkNeeded } from './library-search.js';
import { alreadyLoaded, type ProgramScope } from './loading-program.js';

export { isMuslBuiltin } from './library-search.js';

export type { LibraryLookup } from './library-search.js';

type ResolvedLibrary = FoundLibrary;

export type LoadCheck = 'arch' | 'libc-family' | 'elf-header' | 'exec-stack' | 'missing-library' | 'symbol-version' | 'missing-symbol' | 'crash';

export interface LoadProblem {
  check: LoadCheck;
  message: string;
  fix: string;
}

export interface LoadTarget {
  fingerprint: EnvironmentFingerprint;
  libraries: LibraryLookup;
  /**
   * The directory $ORIGIN names for the plugin. null for the host runtime, which loads a sealed
   * copy through /proc/self/fd/N (so $ORIGIN is /proc/self/fd, where no library lives).
   */
  pluginOrigin?: string | null;
  /** The loading program's global scope, when known: already loaded objects and their symbols. */
  scope?: ProgramScope | null;
  /** Receives what the prediction relied on beyond the plugin's own dependencies. */
  notes?: string[];
}

/** The highest numbered version of a family (GLIBC_2.36 rather than GLIBC_PRIVATE). */
function highestVersion(definitions: readonly string[], family: string): string | null {
  const numbered = definitions.filter((v) => v.startsWith(`${family}_`) && /^\d+(\.\d+)*$/.test(v.slice(family.length + 1)));
  if (numbered.length === 0) return null;
  return numbered.reduce((a, b) => (compareVersions(a.slice(family.length + 1), b.slice(family.length + 1)) >= 0 ? a : b));
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

const DF_1_NOOPEN = 0x40;
const DF_1_PIE = 0x08000000;

/** What glibc's open_verify and dl_open_worker refuse before looking at dependencies. */
function headerProblems(plugin: ElfFacts, host: EnvironmentFingerprint): LoadProblem[] {
  const problems: LoadProblem[] = [];
  const refuse = (message: string, fix: string) => problems.push({ check: 'elf-header', message, fix });
  if (host.libc.family === 'glibc' && plugin.osabi !== 0 && plugin.osabi !== 3) {
    refuse(`its ELF OS ABI is ${plugin.osabi}; glibc loads only SYSV (0) and GNU (3) objects (the loader: "ELF file OS ABI invalid")`, 'rebuild it with builder build');
  }
  if (plugin.type === 'exec') refuse('it is an executable, not a shared object (the loader: "cannot dynamically load executable")', 'build it with -shared (builder build does)');
  else if (plugin.type !== 'dyn') refuse(`its ELF type is ${plugin.type}, not a shared object`, 'build it with -shared (builder build does)');
  if (host.libc.family === 'glibc' && (plugin.flags1 & DF_1_PIE) !== 0) {
    refuse('it is a position-independent executable (the loader: "cannot dynamically load position-independent executable")', 'build it with -shared, not -pie');
  }
  if ((plugin.flags1 & DF_1_NOOPEN) !== 0) refuse('it is marked DF_1_NOOPEN (the loader: "shared object cannot be dlopen()ed")', 'link it without -z nodlopen');
  return problems;
}

/**
 * glibc 2.41 stopped making the stack executable for a dlopen()ed object that asks for it (or
 * has no PT_GNU_STACK): the load fails unless the stack already is executable. Older glibc
 * makes the whole process's stack executable; musl ignores the request.
 */
function execStackProblems(facts: ElfFacts, what: string, host: EnvironmentFingerprint, programStackExecutable: boolean): LoadProblem[] {
  if (host.libc.family !== 'glibc' || !facts.executableStack || programStackExecutable) return [];
  if (compareVersions(host.libc.version, '2.41') < 0) return [];
  return [{
    check: 'exec-stack',
    message: `${what} asks for an executable stack (PT_GNU_STACK with PF_X, or none), which glibc ${host.libc.version} no longer grants to dlopen()ed objects (the loader: "cannot enable executable stack as shared object requires: Invalid argument")`,
    fix: 'link it with -z noexecstack (and find the object file that lacks .note.GNU-stack)',
  }];
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

  const problems: LoadProblem[] = [...headerProblems(plugin, host)];
  const resolved = new Map<string, ResolvedLibrary>();
  const musl = host.libc.family === 'musl';
  const muslSelf = musl ? await target.libraries.find(`ld-musl-${host.arch}.so.1`, null) : null;
  const requester: Requester = { facts: plugin, origin: target.pluginOrigin ?? null };
  const originDropped = target.pluginOrigin == null && /\$(\{)?ORIGIN/.test(plugin.runpath ?? plugin.rpath ?? '');
  for (const name of plugin.needed) {
    const loaded = alreadyLoaded(target.scope, name);
    const result = loaded ?? (musl && isMuslBuiltin(name) ? muslSelf : await target.libraries.find(name, requester));
    if (isFound(result)) resolved.set(name, result);
    else if (result && 'error' in result) {
      problems.push({ check: 'missing-library', message: `needs ${name}; the loader stops at ${result.path}: "${result.path}: ${result.error}"`, fix: `replace ${result.path} with the real ${name} (or remove it) in the host image` });
    } else {
      problems.push({
        check: 'missing-library',
        message:
          `needs ${name}, which the loader does not find (it would say "${name}: cannot open shared object file: No such file or directory")` +
          (originDropped ? '; its $ORIGIN search path cannot help: the host runtime loads a sealed copy from /proc/self/fd' : ''),
        fix: providerHint(name, host.os.id),
      });
    }
  }

  // The whole closure: every dependency's own dependencies must be found (the program's objects
  // were checked when it started), and glibc checks each object's version needs.
  const closure = new Map(resolved);
  const deeper: Array<{ lib: ResolvedLibrary; via: string }> = [];
  await walkNeeded(
    target.libraries,
    [...resolved.values()]
      .filter((lib) => lib.via !== 'already loaded')
      .flatMap((lib) => lib.facts.needed.map((name) => ({ name, requester: { facts: lib.facts, origin: dirname(lib.path), loader: requester }, askedThrough: lib.name }))),
    {
      seen: new Set(resolved.keys()),
      preresolve: async (name) => alreadyLoaded(target.scope, name) ?? (musl && isMuslBuiltin(name) ? muslSelf : undefined),
      descend: (lib) => lib.via !== 'already loaded',
    },
    ({ name, askedThrough, result }) => {
      if (isFound(result)) {
        closure.set(name, result);
        deeper.push({ lib: result, via: `${askedThrough} → ${name}` });
        return;
      }
      problems.push({
        check: 'missing-library',
        message: result && 'error' in result ? `needs ${name} (through ${askedThrough}); the loader stops at "${result.path}: ${result.error}"` : `needs ${name} (through ${askedThrough}), which the loader does not find ("${name}: cannot open shared object file: No such file or directory")`,
        fix: providerHint(name, host.os.id),
      });
    },
  );
  const isLoaded = (lib: ResolvedLibrary) => lib.via === 'already loaded';
  for (const lib of [...resolved.values(), ...deeper.map((d) => d.lib)]) {
    if (!isLoaded(lib)) problems.push(...execStackProblems(lib.facts, lib.path, host, target.scope?.executable.facts.executableStack === true));
  }
  if (!musl) {
    for (const { lib, via } of deeper) {
      if (isLoaded(lib)) continue;
      for (const need of lib.facts.versionNeeds) {
        const provider = closure.get(need.library);
        if (!provider || !provider.facts.hasVersionDefinitions) continue;
        const missingVersions = need.versions.filter((v) => !provider.facts.versionDefinitions.includes(v));
        for (const version of missingVersions) {
          const highest = highestVersion(provider.facts.versionDefinitions, version.split('_')[0] as string);
          problems.push({
            check: 'symbol-version',
            message: `${lib.path} (through ${via}) needs ${version} from ${need.library}, but this host's ${provider.path} ${highest ? `provides up to ${highest}` : `does not define ${version}`} (the loader: "version \`${version}' not found (required by ${lib.path})")`,
            fix: `install a ${lib.name} built for this host's ${need.library} in the host image`,
          });
        }
      }
    }
  }
  problems.push(...execStackProblems(plugin, 'the plugin', host, target.scope?.executable.facts.executableStack === true));

  const failedVersions = new Set<string>();
  if (!musl) {
    for (const need of plugin.versionNeeds) {
      const library = resolved.get(need.library);
      if (!library) continue;
      if (!library.facts.hasVersionDefinitions) {
        // dl-version.c accepts a library without version definitions ("no version information
        // available", shown only with LD_WARN); but a versioned reference bound to a symbol of a
        // library without symbol versions trips check_match's assertion in dl-lookup.c, which
        // aborts the whole process — nothing a host can catch.
        const bound = plugin.versionedImports.filter((i) => i.library === need.library && library.facts.exports.includes(i.symbol));
        if (bound.length > 0 && !library.facts.hasVersionSymbols) {
          problems.push({
            check: 'crash',
            message:
              `${list(bound.map((i) => `${i.symbol}@${i.version}`))} ${bound.length === 1 ? 'is a versioned reference' : 'are versioned references'} to ${library.path}, which has no symbol versions: ` +
              `ld.so aborts the whole process ("Inconsistency detected by ld.so: dl-lookup.c: …: check_match: Assertion … failed!", exit 127)`,
            fix: `deploy the ${need.library} the plugin was linked against (with its version script), or rebuild the plugin against this host's ${need.library}`,
          });
        }
        continue;
      }
      for (const version of need.versions) {
        if (library.facts.versionDefinitions.includes(version)) continue;
        failedVersions.add(`${need.library}\0${version}`);
        const symbols = plugin.versionedImports.filter((i) => i.library === need.library && i.version === version).map((i) => i.symbol);
        const highest = highestVersion(library.facts.versionDefinitions, version.split('_')[0] as string);
        const isLibc = need.library === 'libc.so.6' || need.library.startsWith('ld-linux');
        problems.push({
          check: 'symbol-version',
          message:
            `${symbols.length > 0 ? list(symbols) : 'it'} need${symbols.length === 1 ? 's' : ''} ${version} from ${need.library}, ` +
            `but this host's ${library.path}${isLibc ? ` (${hostLibc})` : ''} ${highest ? `provides up to ${highest}` : `does not define ${version}`}`,
          fix: `build on (or for) this host image with builder build, or avoid ${symbols.length > 0 ? list(symbols) : 'symbols'} newer than the host's ${need.library}`,
        });
      }
    }
  }

  // Symbols come from the plugin's whole closure (its local scope), found once above.
  const scope = new Set<string>();
  for (const library of closure.values()) for (const symbol of library.facts.exports) scope.add(symbol);
  if (resolved.size === plugin.needed.length) {
    const unresolvedHere = plugin.imports
      .filter((i) => !i.weak && !scope.has(i.symbol))
      .filter((i) => !(i.version && [...failedVersions].some((key) => key.endsWith(`\0${i.version}`))));
    // The loader looks in the global scope first: what the program already loaded resolves too.
    const global = target.scope?.definitions;
    const fromProgram = global ? unresolvedHere.filter((i) => global.has(i.symbol)) : [];
    for (const i of fromProgram) {
      target.notes?.push(`${i.symbol} is not in the plugin's own dependencies; it resolves from ${global?.get(i.symbol)}, which ${target.scope?.program.path} (${target.scope?.program.how}) loads before any plugin`);
    }
    const missing = unresolvedHere.filter((i) => !global?.has(i.symbol)).map((i) => i.symbol);
    if (missing.length > 0) {
      problems.push({
        check: 'missing-symbol',
        message:
          `${list([...new Set(missing)].sort())} ${missing.length === 1 ? 'is' : 'are'} not defined by any library it loads on this host (${hostLibc})` +
          (target.scope ? ` nor by ${target.scope.program.path} and what it loads` : '') +
          ` (the loader would say "undefined symbol: ${[...new Set(missing)].sort()[0]}")`,
        fix: musl && family === 'glibc'
          ? 'these are glibc-only symbols: rebuild it with builder build against this musl host image'
          : 'rebuild it with builder build against this host image, or link the library that defines them',
      });
    }
  }
  return problems;
}
