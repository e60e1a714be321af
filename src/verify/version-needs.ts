import type { MappedClosure } from './closure.js';
import type { ElfFacts } from '../elf/read-elf.js';
import { compareVersions } from '../elf/versions.js';
import type { ScopeObject } from './symbol-binding.js';
import { type ResolvedLibrary, type LoadProblem, list } from './load-problem.js';

/** Symbol versions: what an object needs against what the libraries found define (glibc's dl-version.c; musl ignores versions). */

/** The highest numbered version of a family (GLIBC_2.36 rather than GLIBC_PRIVATE). */
function highestVersion(definitions: readonly string[], family: string): string | null {
  const numbered = definitions.filter((v) => v.startsWith(`${family}_`) && /^\d+(\.\d+)*$/.test(v.slice(family.length + 1)));
  if (numbered.length === 0) return null;
  return numbered.reduce((a, b) => (compareVersions(a.slice(family.length + 1), b.slice(family.length + 1)) >= 0 ? a : b));
}

/**
 * The versions of `need` its provider does not define. dl-version.c accepts a provider without
 * version definitions ("no version information available", shown only with LD_WARN): what a
 * versioned reference then binds to is judged with the symbols.
 */
function missingVersions(need: { versions: readonly string[] }, provider: ResolvedLibrary): string[] {
  if (!provider.facts.hasVersionDefinitions) return [];
  return need.versions.filter((v) => !provider.facts.versionDefinitions.includes(v));
}

/**
 * dl-version.c's find_needed: a version need naming a library that nothing loaded (not the
 * program's objects, not the plugin's closure) trips an assertion that aborts the process.
 */
export function unloadedVersionNeeds(relocated: ReadonlyArray<{ what: string; facts: ElfFacts }>, loaded: readonly ScopeObject[]): LoadProblem[] {
  const names = new Set(loaded.flatMap((o) => [o.name, o.facts.soname ?? '']).filter(Boolean));
  return relocated.flatMap(({ what, facts }) =>
    facts.versionNeeds
      .filter((need) => !names.has(need.library))
      .map((need) => ({
        check: 'crash' as const,
        message:
          `${what} needs versions of ${need.library} (${list(need.versions)}) but does not load it (no DT_NEEDED leads to it): ` +
          'ld.so aborts the whole process ("Inconsistency detected by ld.so: dl-version.c: …: _dl_check_map_versions: Assertion `needed != NULL\' failed!", exit 127)',
        fix: `link ${what === 'the plugin' ? 'the plugin' : what} with ${need.library} as a DT_NEEDED dependency (its version needs and its DT_NEEDED entries come from the same link)`,
      })),
  );
}

/** Versions that failed, per requiring object (`path\0version`): the loader looks up none of their symbols. */
export type FailedVersions = Set<string>;

/** glibc: each new dependency's version needs against the library the closure found for it. */
export function dependencyVersionProblems(mapped: Pick<MappedClosure, 'closure' | 'newDependencies'>, failedVersions: FailedVersions): LoadProblem[] {
  const { closure, newDependencies } = mapped;
  const problems: LoadProblem[] = [];
  for (const { lib, via } of newDependencies) {
    for (const need of lib.facts.versionNeeds) {
      const provider = closure.get(need.library);
      if (!provider) continue;
      for (const version of missingVersions(need, provider)) {
        failedVersions.add(`${lib.path}\0${version}`);
        const highest = highestVersion(provider.facts.versionDefinitions, version.split('_')[0] as string);
        problems.push({
          check: 'symbol-version',
          message: `${lib.path}${via === lib.name ? '' : ` (through ${via})`} needs ${version} from ${need.library}, but this host's ${provider.path} ${highest ? `provides up to ${highest}` : `does not define ${version}`} (the loader: "version \`${version}' not found (required by ${lib.path})")`,
          fix: `install a ${lib.name} built for this host's ${need.library} in the host image`,
        });
      }
    }
  }
  return problems;
}

/** glibc: the plugin's own version needs, naming the symbols that need each missing version. */
export function pluginVersionProblems(plugin: ElfFacts, resolved: MappedClosure['resolved'], hostLibc: string, failedVersions: FailedVersions): LoadProblem[] {
  const problems: LoadProblem[] = [];
  for (const need of plugin.versionNeeds) {
    const library = resolved.get(need.library);
    if (!library) continue;
    for (const version of missingVersions(need, library)) {
      failedVersions.add(`the plugin\0${version}`);
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
  return problems;
}
