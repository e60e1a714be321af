import type { EnvironmentFingerprint, LibcFamily } from '../env/fingerprint.js';
import type { ElfFacts } from '../elf/read-elf.js';
import { compareVersions } from '../elf/versions.js';
import { relocationName, relocationRefusal, unsupportedRelocations } from './relocation-tables.js';
import { type LoadProblem, type LoadTarget, loaderName } from './load-problem.js';

/** Checks of one object on its own, as the loader makes them when it maps it: header, stack, ISA level, packed relocations, relocation types. */

/** Which C library a shared object was linked against, from what it asks the loader for. */
export function builtAgainst(facts: ElfFacts): LibcFamily | null {
  if (facts.interpreter?.includes('ld-musl') || facts.needed.includes('libc.so')) return 'musl';
  if (facts.needed.includes('libc.so.6') || facts.versionNeeds.some((n) => n.versions.some((v) => v.startsWith('GLIBC_')))) return 'glibc';
  return null;
}

export const DF_1_NOOPEN = 0x40;

export const DF_1_PIE = 0x08000000;

const ELFOSABI_GNU = 3;

// LIBC_ABI_MAX, from glibc's libc-abis (UNIQUE, IFUNC where the triple matches, ABSOLUTE): the
// same in 2.36 and 2.41. Architectures without IFUNC in that file stop at 3.
export const LIBC_ABI_MAX: Record<string, number> = { x86_64: 4, i386: 4, ppc64: 4, riscv64: 4 };

const PAGE_SIZE = 4096;

const PHDR_SIZE = { 32: 32, 64: 56 } as const;

/**
 * What the loader refuses before looking at dependencies: glibc's open_verify and
 * _dl_map_object_from_fd, in their order; musl's map_library checks far less (type, PT_DYNAMIC).
 */
export function headerProblems(plugin: ElfFacts, host: EnvironmentFingerprint): LoadProblem[] {
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
export function relocationProblems(what: string, facts: ElfFacts, family: LibcFamily, pluginPath: string | undefined): LoadProblem[] {
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

export function relrProblems(what: string, facts: ElfFacts): LoadProblem[] {
  if (!facts.hasRelr || facts.versionNeeds.length === 0 || !facts.needed.some((n) => n.startsWith('libc.so.'))) return [];
  if (facts.versionNeeds.some((n) => n.versions.includes('GLIBC_ABI_DT_RELR'))) return [];
  return [{
    check: 'elf-header',
    message: `${what} has DT_RELR (packed relative relocations) but no GLIBC_ABI_DT_RELR version need (the loader: "DT_RELR without GLIBC_ABI_DT_RELR dependency")`,
    fix: 'link it with a binutils and glibc that write the GLIBC_ABI_DT_RELR need (-z pack-relative-relocs on glibc ≥ 2.36), or without -z pack-relative-relocs',
  }];
}

const ISA_LEVEL_NAMES: Record<number, string> = { 1: 'x86-64 baseline', 2: 'x86-64-v2', 4: 'x86-64-v3', 8: 'x86-64-v4' };

const isaNames = (bits: number) => [1, 2, 4, 8, 16, 32, 64, 128].filter((b) => (bits & b) !== 0).map((b) => ISA_LEVEL_NAMES[b] ?? `ISA bit ${b}`).join(' + ');

/**
 * glibc's dl_isa_level_check (x86, 2.33+): an object whose GNU property note needs an ISA level
 * the CPU lacks is refused at dlopen. Judged on the engine's CPU, which the loader reported.
 */
export function isaLevelProblems(what: string, facts: ElfFacts, target: LoadTarget): LoadProblem[] {
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
 * glibc 2.41 stopped making the stack executable for a dlopen()ed object that asks for it (or
 * has no PT_GNU_STACK): the load fails unless the stack already is executable. Older glibc
 * makes the whole process's stack executable; musl ignores the request.
 */
export function execStackProblems(facts: ElfFacts, what: string, host: EnvironmentFingerprint, programStackExecutable: boolean): LoadProblem[] {
  if (host.libc.family !== 'glibc' || !facts.executableStack || programStackExecutable) return [];
  if (compareVersions(host.libc.version, '2.41') < 0) return [];
  return [{
    check: 'exec-stack',
    message: `${what} asks for an executable stack (PT_GNU_STACK with PF_X, or none), which glibc ${host.libc.version} no longer grants to dlopen()ed objects (the loader: "cannot enable executable stack as shared object requires: Invalid argument")`,
    fix: 'link it with -z noexecstack (and find the object file that lacks .note.GNU-stack)',
  }];
}
