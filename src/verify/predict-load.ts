import type { EnvironmentFingerprint, LibcFamily } from '../env/fingerprint.js';
import type { ElfFacts, TlsBlock } from '../elf/read-elf.js';
import { compareVersions } from '../elf/versions.js';
import { providerHint } from './library-hints.js';
import { findMuslLoader, type FoundLibrary, isFound, isMuslBuiltin, type LibraryLookup, type Requester, walkNeeded } from './library-search.js';
import { alreadyLoaded, globalScope, type ProgramScope } from './loading-program.js';
import { bindSymbol, type BindingRules, type ScopeObject } from './symbol-binding.js';
import { STATIC_TLS_SURPLUS, staticTlsShortfall } from './static-tls.js';
import type { LoaderCpuView } from './loader-cpu-view.js';
import { relocationName, relocationRefusal, unsupportedRelocations } from './relocation-tables.js';

export { isMuslBuiltin } from './library-search.js';

export type { LibraryLookup } from './library-search.js';

type ResolvedLibrary = FoundLibrary;

export type LoadCheck = 'arch' | 'libc-family' | 'elf-header' | 'exec-stack' | 'cpu-isa' | 'missing-library' | 'symbol-version' | 'missing-symbol' | 'static-tls' | 'relocation' | 'crash';

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
  /** glibc: what the host's loader makes of the CPU (hwcaps subdirectories, x86 ISA level); null when unknown. */
  cpu?: LoaderCpuView | null;
  /** The path the loader opens the plugin by, for quoting its messages (/app/plugins/libx.so, /proc/self/fd/N). */
  pluginPath?: string;
  /** glibc's static TLS surplus in the loading process (default STATIC_TLS_SURPLUS; GLIBC_TUNABLES can change it). */
  staticTlsSurplus?: number;
  /** Its optional part (glibc.rtld.optional_static_tls), which earlier dlopen()s' TLS descriptors may take. */
  optionalStaticTls?: number;
}

const bindingRules = (target: LoadTarget): BindingRules => ({
  musl: target.fingerprint.libc.family === 'musl',
  versionAssert: target.fingerprint.libc.family === 'glibc' && compareVersions(target.fingerprint.libc.version, '2.41') < 0,
});

// R_X86_64_TLSDESC, R_AARCH64_TLSDESC: the relocations glibc resolves by TRY_STATIC_TLS.
const TLSDESC: Readonly<Record<string, number>> = { x86_64: 36, aarch64: 1031 };
const usesTlsDescriptors = (facts: ElfFacts) => facts.relocationTypes.includes(TLSDESC[facts.machine] ?? -1);

/** How the loader names an object in its messages: its path (the plugin's as the program opens it). */
const loaderName = (what: string, target: LoadTarget) => (what === 'the plugin' ? (target.pluginPath ?? '…') : what);

/** The highest numbered version of a family (GLIBC_2.36 rather than GLIBC_PRIVATE). */
function highestVersion(definitions: readonly string[], family: string): string | null {
  const numbered = definitions.filter((v) => v.startsWith(`${family}_`) && /^\d+(\.\d+)*$/.test(v.slice(family.length + 1)));
  if (numbered.length === 0) return null;
  return numbered.reduce((a, b) => (compareVersions(a.slice(family.length + 1), b.slice(family.length + 1)) >= 0 ? a : b));
}

const MAX_LISTED = 8;
const list = (items: readonly string[]) =>
  items.slice(0, MAX_LISTED).join(', ') + (items.length > MAX_LISTED ? ` and ${items.length - MAX_LISTED} more` : '');

/**
 * The versions of `need` its provider does not define. dl-version.c accepts a provider without
 * version definitions ("no version information available", shown only with LD_WARN): what a
 * versioned reference then binds to is judged with the symbols.
 */
function missingVersions(need: { versions: readonly string[] }, provider: ResolvedLibrary): string[] {
  if (!provider.facts.hasVersionDefinitions) return [];
  return need.versions.filter((v) => !provider.facts.versionDefinitions.includes(v));
}

/** Which C library a shared object was linked against, from what it asks the loader for. */
export function builtAgainst(facts: ElfFacts): LibcFamily | null {
  if (facts.interpreter?.includes('ld-musl') || facts.needed.includes('libc.so')) return 'musl';
  if (facts.needed.includes('libc.so.6') || facts.versionNeeds.some((n) => n.versions.some((v) => v.startsWith('GLIBC_')))) return 'glibc';
  return null;
}

const DF_1_NOOPEN = 0x40;
const DF_1_PIE = 0x08000000;
const ELFOSABI_GNU = 3;
// LIBC_ABI_MAX, from glibc's libc-abis (UNIQUE, IFUNC where the triple matches, ABSOLUTE): the
// same in 2.36 and 2.41. Architectures without IFUNC in that file stop at 3.
const LIBC_ABI_MAX: Record<string, number> = { x86_64: 4, i386: 4, ppc64: 4, riscv64: 4 };
const PAGE_SIZE = 4096;
const PHDR_SIZE = { 32: 32, 64: 56 } as const;

/**
 * What the loader refuses before looking at dependencies: glibc's open_verify and
 * _dl_map_object_from_fd, in their order; musl's map_library checks far less (type, PT_DYNAMIC).
 */
function headerProblems(plugin: ElfFacts, host: EnvironmentFingerprint): LoadProblem[] {
  const problems: LoadProblem[] = [];
  const refuse = (message: string, fix = 'rebuild it with builder build') => problems.push({ check: 'elf-header', message, fix });
  const dynamicOrExec = plugin.type === 'dyn' || plugin.type === 'exec';
  if (host.libc.family === 'musl') {
    if (!dynamicOrExec) refuse(`its ELF type is ${plugin.type}, not a shared object (musl: "Exec format error")`, 'build it with -shared (builder build does)');
    else if (!plugin.hasDynamicSegment) refuse('it has no dynamic section (musl: "Exec format error")');
    return problems;
  }
  if (plugin.identVersion !== 1) refuse(`e_ident[EI_VERSION] is ${plugin.identVersion} (the loader: "ELF file version ident does not match current one")`);
  if (plugin.osabi !== 0 && plugin.osabi !== ELFOSABI_GNU) {
    refuse(`its ELF OS ABI is ${plugin.osabi}; glibc loads only SYSV (0) and GNU (3) objects (the loader: "ELF file OS ABI invalid")`);
  } else if (plugin.abiVersion !== 0 && !(plugin.osabi === ELFOSABI_GNU && plugin.abiVersion < (LIBC_ABI_MAX[plugin.machine] ?? 3))) {
    refuse(
      `its ELF ABI version is ${plugin.abiVersion} (OS ABI ${plugin.osabi}); glibc on ${plugin.machine} accepts 0, or 1–${(LIBC_ABI_MAX[plugin.machine] ?? 3) - 1} with the GNU OS ABI (the loader: "ELF file ABI version invalid")`,
    );
  } else if (!plugin.identPaddingZero) refuse('the padding bytes of e_ident are not zero (the loader: "nonzero padding in e_ident")');
  if (plugin.version !== 1) refuse(`e_version is ${plugin.version} (the loader: "ELF file version does not match current one")`);
  if (!dynamicOrExec) refuse(`its ELF type is ${plugin.type}, not a shared object (the loader: "only ET_DYN and ET_EXEC can be loaded")`, 'build it with -shared (builder build does)');
  else if (plugin.phentsize !== PHDR_SIZE[plugin.class]) refuse(`e_phentsize is ${plugin.phentsize}, not ${PHDR_SIZE[plugin.class]} (the loader: "ELF file's phentsize not the expected size")`);
  if (problems.length > 0) return problems;
  if (plugin.loadSegments.some((l) => (l.vaddr - l.offset) % PAGE_SIZE !== 0)) refuse('a PT_LOAD segment\'s address and file offset differ by more than whole pages (the loader: "ELF load command address/offset not page-aligned")');
  if (plugin.loadSegments.length === 0) refuse('it has no PT_LOAD segment (the loader: "object file has no loadable segments")');
  if (plugin.type === 'exec') refuse('it is an executable, not a shared object (the loader: "cannot dynamically load executable")', 'build it with -shared (builder build does)');
  else if (!plugin.hasDynamicSegment) refuse('it has no dynamic section (the loader: "object file has no dynamic section")');
  if ((plugin.flags1 & DF_1_PIE) !== 0) {
    refuse('it is a position-independent executable (the loader: "cannot dynamically load position-independent executable")', 'build it with -shared, not -pie');
  }
  if ((plugin.flags1 & DF_1_NOOPEN) !== 0) refuse('it is marked DF_1_NOOPEN (the loader: "shared object cannot be dlopen()ed")', 'link it without -z nodlopen');
  return problems;
}

/**
 * dl-version.c (2.36+): an object with packed relative relocations that links libc must say so
 * with a GLIBC_ABI_DT_RELR version need, or the load fails.
 */
/** Relocation types the host's loader does not apply (musl has no IFUNC: R_X86_64_IRELATIVE). */
function relocationProblems(what: string, facts: ElfFacts, family: LibcFamily, pluginPath: string | undefined): LoadProblem[] {
  const unsupported = unsupportedRelocations(family, facts.machine, facts.relocationTypes);
  if (!unsupported || unsupported.length === 0) return [];
  const names = unsupported.map((t) => relocationName(facts.machine, t));
  const file = what === 'the plugin' ? (pluginPath ?? 'the plugin') : what;
  return [{
    check: 'relocation',
    message: `${what} has ${names.join(', ')} relocations, which ${family}'s loader does not apply (the loader would say "${relocationRefusal(family, file, unsupported[0]!)}")`,
    fix: unsupported.some((t) => relocationName(facts.machine, t).endsWith('IRELATIVE'))
      ? 'musl has no IFUNC support: build without ifunc (no __attribute__((ifunc)), no target_clones) for this host'
      : 'rebuild it with builder build against this host image',
  }];
}

function relrProblems(what: string, facts: ElfFacts): LoadProblem[] {
  if (!facts.hasRelr || facts.versionNeeds.length === 0 || !facts.needed.some((n) => n.startsWith('libc.so.'))) return [];
  if (facts.versionNeeds.some((n) => n.versions.includes('GLIBC_ABI_DT_RELR'))) return [];
  return [{
    check: 'elf-header',
    message: `${what} has DT_RELR (packed relative relocations) but no GLIBC_ABI_DT_RELR version need (the loader: "DT_RELR without GLIBC_ABI_DT_RELR dependency")`,
    fix: 'link it with a binutils and glibc that write the GLIBC_ABI_DT_RELR need (-z pack-relative-relocs on glibc ≥ 2.36), or without -z pack-relative-relocs',
  }];
}

/**
 * dl-version.c's find_needed: a version need naming a library that nothing loaded (not the
 * program's objects, not the plugin's closure) trips an assertion that aborts the process.
 */
function unloadedVersionNeeds(relocated: ReadonlyArray<{ what: string; facts: ElfFacts }>, loaded: readonly ScopeObject[]): LoadProblem[] {
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

const ISA_LEVEL_NAMES: Record<number, string> = { 1: 'x86-64 baseline', 2: 'x86-64-v2', 4: 'x86-64-v3', 8: 'x86-64-v4' };
const isaNames = (bits: number) => [1, 2, 4, 8, 16, 32, 64, 128].filter((b) => (bits & b) !== 0).map((b) => ISA_LEVEL_NAMES[b] ?? `ISA bit ${b}`).join(' + ');

/**
 * glibc's dl_isa_level_check (x86, 2.33+): an object whose GNU property note needs an ISA level
 * the CPU lacks is refused at dlopen. Judged on the engine's CPU, which the loader reported.
 */
function isaLevelProblems(what: string, facts: ElfFacts, target: LoadTarget): LoadProblem[] {
  const needed = facts.x86IsaNeeded;
  if (needed === 0 || (facts.machine !== 'x86_64' && facts.machine !== 'i386')) return [];
  if (!target.cpu) {
    if (needed > 1) target.notes?.push(`${what} needs ${isaNames(needed)} (GNU property note); the CPU was not judged, so a machine without it refuses the load ("CPU ISA level is lower than required")`);
    return [];
  }
  if ((needed & target.cpu.x86IsaLevels) === needed) {
    if (needed > 1) target.notes?.push(`${what} needs ${isaNames(needed)}, which this engine's CPU has; a deploy machine without it refuses the load`);
    return [];
  }
  return [{
    check: 'cpu-isa',
    message: `${what} needs ${isaNames(needed)} (its GNU property note), the CPU has ${isaNames(target.cpu.x86IsaLevels)} (the loader: "${loaderName(what, target)}: CPU ISA level is lower than required")`,
    fix: 'build it for an ISA level the deploy machines have: drop -z x86-64-vN / -mneeded (which write the note) or lower -march',
  }];
}

/**
 * Initial-exec TLS in what a dlopen() brings in: each TPOFF relocation needs a static offset in
 * the block of the object defining its symbol. Objects loaded at start-up have one; a newly
 * loaded object's block must fit in glibc's surplus (musl has none: it refuses them all).
 */
function staticTlsProblems(
  relocated: ReadonlyArray<{ what: string; facts: ElfFacts }>,
  lookupScope: readonly ScopeObject[],
  global: readonly ScopeObject[],
  target: LoadTarget,
  musl: boolean,
): LoadProblem[] {
  const startup = new Set(global.map((o) => o.path));
  const wanted = new Map<string, { path: string; block: TlsBlock; from: string; symbol: string | null }>();
  // glibc relocates the new objects dependencies first (the reverse of their init order).
  for (const { what, facts } of [...relocated].reverse()) {
    for (const ref of facts.staticTlsReferences) {
      const defining = ref.symbol === null ? { path: what, facts } : bindSymbol(lookupScope, { symbol: ref.symbol, version: null, weak: false }, bindingRules(target));
      const object = 'kind' in defining ? (defining.kind === 'unbound' ? null : defining.object) : defining;
      if (!object || startup.has(object.path) || !object.facts.tls || wanted.has(object.path)) continue;
      wanted.set(object.path, { path: object.path, block: object.facts.tls, from: what, symbol: ref.symbol });
    }
  }
  if (wanted.size === 0) return [];
  const fix = 'compile it without initial-exec TLS (drop tls_model("initial-exec") / -ftls-model=initial-exec; the default for -fPIC is global-dynamic)';
  if (musl) {
    return [...wanted.values()].map((w) => ({
      check: 'static-tls' as const,
      message: `${w.from} uses initial-exec TLS${w.symbol ? ` (${w.symbol})` : ''} defined in ${w.path}, a dlopen()ed object; musl has no static TLS for those (the loader: "Error relocating ${loaderName(w.from, target)}: …: initial-exec TLS resolves to dynamic definition in ${loaderName(w.path, target)}")`,
      fix,
    }));
  }
  const shortfall = staticTlsShortfall({
    machine: target.fingerprint.arch,
    withRseq: compareVersions(target.fingerprint.libc.version, '2.41') >= 0,
    surplus: target.staticTlsSurplus ?? STATIC_TLS_SURPLUS,
    startup: global.flatMap((o) => (o.facts.tls ? [o.facts.tls] : [])),
    earlierOptional: (target.scope?.dlopenedFirst ?? []).flatMap((o) => (o.facts.tls && usesTlsDescriptors(o.facts) ? [o.facts.tls] : [])),
    ...(target.optionalStaticTls !== undefined ? { optional: target.optionalStaticTls } : {}),
    wanted: [...wanted.values()],
  });
  if (shortfall === null) {
    target.notes?.push(`static TLS for initial-exec TLS in ${[...wanted.keys()].join(', ')} is not modelled on ${target.fingerprint.arch}; assumed to fit`);
    return [];
  }
  if (shortfall === 'fits') return [];
  return [{
    check: 'static-tls',
    message:
      `${shortfall.path} uses initial-exec TLS: its ${shortfall.needs}-byte TLS block must go into static TLS when dlopen()ed, ` +
      `and ${shortfall.free} bytes are left there after the program's own (glibc keeps ${target.staticTlsSurplus ?? STATIC_TLS_SURPLUS} spare; the loader: "${loaderName(shortfall.path, target)}: cannot allocate memory in static TLS block")`,
    fix,
  }];
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
  const muslSelf = musl ? await findMuslLoader(target.libraries, host.arch) : null;
  const requester: Requester = { facts: plugin, origin: target.pluginOrigin ?? null };
  const originDropped = target.pluginOrigin == null && /\$(\{)?ORIGIN/.test(plugin.runpath ?? plugin.rpath ?? '');
  // The whole closure, breadth-first as the loader maps it: the plugin's needs (resolved), then
  // every dependency's own (the program's objects were checked when it started).
  const closure = new Map<string, ResolvedLibrary>();
  const deeper: Array<{ lib: ResolvedLibrary; via: string }> = [];
  await walkNeeded(
    target.libraries,
    plugin.needed.map((name) => ({ name, requester, askedThrough: '' })),
    {
      preresolve: async (name) => alreadyLoaded(target.scope, name) ?? (musl && isMuslBuiltin(name) ? muslSelf : undefined),
      descend: (lib) => lib.via !== 'already loaded',
    },
    ({ name, askedThrough, result }) => {
      if (isFound(result)) {
        closure.set(name, result);
        if (askedThrough === '') resolved.set(name, result);
        else deeper.push({ lib: result, via: `${askedThrough} → ${name}` });
        return;
      }
      const stopped = result && 'error' in result ? result : null;
      if (askedThrough === '') {
        problems.push(
          stopped
            ? { check: 'missing-library', message: `needs ${name}; the loader stops at ${stopped.path}: "${stopped.path}: ${stopped.error}"`, fix: `replace ${stopped.path} with the real ${name} (or remove it) in the host image` }
            : {
                check: 'missing-library',
                message:
                  `needs ${name}, which the loader does not find (it would say "${name}: cannot open shared object file: No such file or directory")` +
                  (originDropped ? '; its $ORIGIN search path cannot help: the host runtime loads a sealed copy from /proc/self/fd' : ''),
                fix: providerHint(name, host.os.id),
              },
        );
        return;
      }
      problems.push({
        check: 'missing-library',
        message: stopped ? `needs ${name} (through ${askedThrough}); the loader stops at "${stopped.path}: ${stopped.error}"` : `needs ${name} (through ${askedThrough}), which the loader does not find ("${name}: cannot open shared object file: No such file or directory")`,
        fix: providerHint(name, host.os.id),
      });
    },
  );
  // What this dlopen() brings in (the program's objects were loaded, checked and relocated at its start).
  const newDependencies = [...[...resolved.values()].map((lib) => ({ lib, via: lib.name })), ...deeper].filter(({ lib }) => lib.via !== 'already loaded');
  for (const { lib } of newDependencies) {
    // A dependency is opened like the plugin (dl_open_worker passes __RTLD_DLOPEN down): the same header checks.
    problems.push(...headerProblems(lib.facts, host).map((p) => ({ ...p, message: `${lib.path}: ${p.message}`, fix: `replace ${lib.path} in the host image with a shared library built for it` })));
    problems.push(...execStackProblems(lib.facts, lib.path, host, target.scope?.executable.facts.executableStack === true));
  }
  // Versions that failed, per requiring object (`path\0version`): their symbols are not looked up.
  const failedVersions = new Set<string>();
  if (!musl) {
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
  }
  problems.push(...execStackProblems(plugin, 'the plugin', host, target.scope?.executable.facts.executableStack === true));

  if (!musl) {
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
  }

  // RTLD_NOW relocates every newly loaded object: each strong reference must bind, in the
  // global scope first, then in the plugin's closure breadth-first (the plugin first).
  if (problems.some((p) => p.check === 'missing-library')) return problems;
  const global = globalScope(target.scope);
  const local: ScopeObject[] = [{ path: 'the plugin', name: plugin.soname ?? '', facts: plugin }, ...closure.values()];
  const lookupScope = [...global, ...local.filter((o) => !global.some((g) => g.path === o.path))];
  const relocated: Array<{ what: string; facts: ElfFacts }> = [{ what: 'the plugin', facts: plugin }, ...newDependencies.map(({ lib }) => ({ what: lib.path, facts: lib.facts }))];
  const ownClosure = new Set(local.map((o) => o.path));
  if (!musl) problems.push(...unloadedVersionNeeds(relocated, lookupScope));
  for (const { what, facts } of relocated) {
    const missing: string[] = [];
    const passedOver: string[] = [];
    const crashes: string[] = [];
    let crashedIn = '';
    const libraryOf = new Map(facts.versionedImports.map((i) => [`${i.symbol}@${i.version}`, i.library]));
    for (const ref of facts.imports) {
      if (ref.version && failedVersions.has(`${what}\0${ref.version}`)) continue;
      const binding = bindSymbol(lookupScope, { ...ref, library: ref.version ? libraryOf.get(`${ref.symbol}@${ref.version}`) ?? null : null }, bindingRules(target));
      if (binding.kind === 'crash') {
        crashes.push(`${ref.symbol}@${ref.version}`);
        crashedIn = binding.object.path;
      } else if (binding.kind === 'unbound' && !ref.weak) {
        missing.push(ref.version && !musl ? `${ref.symbol}@${ref.version}` : ref.symbol);
        if (binding.passedOver) passedOver.push(`${binding.passedOver.object.path} defines ${ref.symbol}, but ${binding.passedOver.why}`);
      } else if (binding.kind === 'bound' && !ref.weak && !ownClosure.has(binding.object.path) && what === 'the plugin') {
        target.notes?.push(`${ref.symbol} is not in the plugin's own dependencies; it resolves from ${binding.object.path}, which ${target.scope?.program.path} (${target.scope?.program.how}) loads before any plugin`);
      }
    }
    // Its own defined symbols its relocations name are looked up too; glibc binds hidden and
    // internal ones to the object itself (RESOLVE_MAP), musl looks them all up (do_relocs).
    for (const ref of facts.definedReferences) {
      if (!musl && (ref.visibility === 1 || ref.visibility === 2)) continue;
      const binding = bindSymbol(lookupScope, { ...ref, library: null }, bindingRules(target));
      // A defined weak symbol that finds nothing is no error to glibc; musl excuses only undefined weak ones.
      if (binding.kind !== 'unbound' || (ref.weak && !musl)) continue;
      missing.push(ref.version && !musl ? `${ref.symbol}@${ref.version}` : ref.symbol);
      if (binding.passedOver) passedOver.push(`${binding.passedOver.object.path} defines ${ref.symbol}, but ${binding.passedOver.why}`);
    }
    if (crashes.length > 0) {
      problems.push({
        check: 'crash',
        message:
          `${what === 'the plugin' ? '' : `${what}: `}${list(crashes)} ${crashes.length === 1 ? 'is a versioned reference' : 'are versioned references'} to ${crashedIn}, which has no symbol versions: ` +
          `ld.so aborts the whole process ("Inconsistency detected by ld.so: dl-lookup.c: …: check_match: Assertion … failed!", exit 127)`,
        fix: `deploy the library the plugin was linked against (with its version script), or rebuild the plugin against this host's ${crashedIn}`,
      });
    }
    if (missing.length > 0) {
      const names = [...new Set(missing)].sort();
      const [symbol, version] = (names[0] as string).split('@');
      problems.push({
        check: 'missing-symbol',
        message:
          `${what === 'the plugin' ? '' : `${what} (loaded for the plugin): `}${list(names)} ${names.length === 1 ? 'is' : 'are'} not defined by any library it loads on this host (${hostLibc})` +
          (target.scope ? ` nor by ${target.scope.program.path} and what it loads` : '') +
          (passedOver.length > 0 ? `; ${passedOver.slice(0, 3).join('; ')}` : '') +
          (musl
            ? ` (the loader would say "Error relocating ${loaderName(what, target)}: ${symbol}: symbol not found")`
            : ` (the loader would say "${what === 'the plugin' ? '' : `${what}: `}undefined symbol: ${symbol}${version ? `, version ${version}` : ''}")`),
        fix: musl && family === 'glibc'
          ? 'these are glibc-only symbols: rebuild it with builder build against this musl host image'
          : what === 'the plugin'
            ? 'rebuild it with builder build against this host image, or link the library that defines them'
            : `install the ${what.split('/').pop()} and the libraries it was built against together in the host image`,
      });
    }
  }
  problems.push(...relocated.flatMap(({ what, facts }) => relocationProblems(what, facts, host.libc.family, target.pluginPath)));
  problems.push(...staticTlsProblems(relocated, lookupScope, global, target, musl));
  if (!musl) problems.push(...relocated.flatMap(({ what, facts }) => [...isaLevelProblems(what, facts, target), ...relrProblems(what, facts)]));
  return problems;
}
