import { BuilderError } from '../errors.js';
import { printable } from '../util/printable.js';
import { dirname, posix } from 'node:path';
import { envValue } from '../env/env-value.js';
import type { RootFileSource } from '../env/file-source.js';
import { type ElfFacts, ElfFormatError, readElf } from '../elf/read-elf.js';
import type { ScopeObject } from './symbol-binding.js';
import { findMuslLoader, type FoundLibrary, isFound, isMuslBuiltin, type LibrarySearch, type Requester, walkNeeded } from './library-search.js';

/** Which program loads the plugins, and how that was decided. */
export interface LoadingProgram {
  path: string;
  how: 'host.binary' | '--loader-program' | 'image entrypoint' | 'image cmd';
  /** The script node runs (`node /app/dist/builder.js host` → /app/dist/builder.js), when the command names one. */
  script?: string;
}

/**
 * The loading program's global scope: its executable and the closure of its DT_NEEDED
 * libraries, loaded before any plugin. A plugin's symbol found there resolves; a plugin's
 * DT_NEEDED name matching one of them is that object (glibc matches loaded objects by name and
 * soname before it searches).
 */
export interface ProgramScope {
  program: LoadingProgram;
  executable: Requester;
  /** Its libraries, breadth-first: with the executable first, the global scope's lookup order. */
  objects: FoundLibrary[];
  /** Why the scope is incomplete (a dependency of the program itself not found), if it is. */
  unresolved: string[];
  /**
   * Objects the program dlopen()s before any plugin (the Node runtimes' koffi addon): not in the
   * global scope (RTLD_LOCAL), but their TLS may already sit in the static TLS surplus.
   */
  dlopenedFirst: Array<{ path: string; facts: ElfFacts }>;
  /** What could not be read of it (an unreadable addon), for the report. */
  notes: string[];
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const SHELLS = new Set(['sh', 'bash', 'dash', 'ash']);

/** argv of a container: Entrypoint + Cmd, through `sh -c "exec prog …"`. */
function commandWords(argv: readonly string[]): string[] {
  const [head, flag, script] = argv;
  if (!head) return [];
  if (SHELLS.has(posix.basename(head)) && flag === '-c' && script) {
    const words = script.trim().split(/\s+/).filter((w) => !/^[A-Za-z_][A-Za-z0-9_]*=/.test(w));
    return words[0] === 'exec' ? words.slice(1) : words;
  }
  return [...argv];
}

async function onPath(files: RootFileSource, name: string, env: readonly string[]): Promise<string | null> {
  if (name.includes('/')) return name;
  const path = envValue(env, 'PATH') ?? DEFAULT_PATH;
  for (const dir of path.split(':').filter(Boolean)) {
    const candidate = `${dir.replace(/\/+$/, '')}/${name}`;
    if (await files.readFile(candidate)) return candidate;
  }
  return null;
}

/** Follow `#!` interpreters (`#!/usr/bin/env node`) to the ELF executable that really runs. */
async function executableOf(files: RootFileSource, path: string, env: readonly string[], hops = 0): Promise<string | null> {
  const bytes = await files.readFile(path);
  if (!bytes || hops > 4) return null;
  if (bytes.subarray(0, 2).toString('latin1') !== '#!') return path;
  const [interpreter, argument] = bytes.subarray(2, bytes.indexOf(10) > 0 ? bytes.indexOf(10) : 256).toString('latin1').trim().split(/\s+/);
  if (!interpreter) return null;
  const next = posix.basename(interpreter) === 'env' && argument ? await onPath(files, argument, env) : interpreter;
  return next ? executableOf(files, next, env, hops + 1) : null;
}

export async function resolveLoadingProgram(
  files: RootFileSource,
  image: { env: readonly string[]; entrypoint: readonly string[]; cmd: readonly string[]; workingDir?: string },
  choice: { hostBinary?: string | undefined; override?: string | undefined },
): Promise<LoadingProgram | null> {
  if (choice.override) return { path: choice.override, how: '--loader-program' };
  if (choice.hostBinary) return { path: choice.hostBinary, how: 'host.binary' };
  const how = image.entrypoint.length > 0 ? 'image entrypoint' : 'image cmd';
  const [word, ...rest] = commandWords([...image.entrypoint, ...image.cmd]);
  if (!word) return null;
  const found = await onPath(files, word, image.env);
  const executable = found ? await executableOf(files, found, image.env) : null;
  if (!executable) return null;
  // node's script: the #! file that named node, else node's first argument that is not an option.
  const node = /^node(js)?$/.test(posix.basename(executable));
  const script = !node ? undefined : executable !== found ? found : rest.find((w) => !w.startsWith('-'));
  return { path: executable, how, ...(script ? { script: posix.resolve(image.workingDir ?? '/', script) } : {}) };
}

const NODE_ARCH: Readonly<Record<string, string>> = { x86_64: 'x64', aarch64: 'arm64', arm: 'arm', i386: 'ia32', riscv64: 'riscv64', ppc64: 'ppc64', s390x: 's390x' };

/** How far up from the script koffi's loader is looked for: a hostile Cmd cannot make the walk long. */
const MAX_ADDON_WALK = 32;

/**
 * The native addon koffi dlopen()s when the Node runtime starts, before any plugin: from the
 * runtime script's node_modules, where koffi's loader looks (@koromix/koffi-linux-<arch>, then
 * koffi/build/koffi/<triplet>; linux_ for glibc, musl_ for musl). The image controls the script
 * path and the files: an unreadable candidate (too large, not ELF) is skipped with a note.
 */
async function koffiAddon(files: RootFileSource, program: LoadingProgram, family: string, machine: string, notes: string[]): Promise<{ path: string; facts: ElfFacts } | null> {
  if (!/^node(js)?$/.test(posix.basename(program.path)) || !program.script || program.script.length > 4096) return null;
  const arch = NODE_ARCH[machine];
  if (!arch) return null;
  const triplet = `${family === 'musl' ? 'musl' : 'linux'}_${arch}`;
  let dir = posix.dirname(program.script);
  for (let level = 0; level < MAX_ADDON_WALK; level++, dir = posix.dirname(dir)) {
    for (const candidate of [`${dir}/node_modules/@koromix/koffi-linux-${arch}/${triplet}/koffi.node`, `${dir}/node_modules/koffi/build/koffi/${triplet}/koffi.node`]) {
      let bytes: Buffer | null;
      try {
        bytes = await files.readFile(candidate);
      } catch (err) {
        if (!(err instanceof BuilderError) || err.code !== 'FILE_TOO_LARGE') throw err;
        notes.push(`${printable(candidate)} is too large to read; koffi's static TLS is not counted`);
        return null;
      }
      if (!bytes) continue;
      try {
        return { path: candidate, facts: readElf(bytes) };
      } catch (err) {
        if (!(err instanceof ElfFormatError)) throw err;
        notes.push(`${printable(candidate)} is not a readable ELF object (${err.message}); koffi's static TLS is not counted`);
        return null;
      }
    }
    if (dir === '/') return null;
  }
  return null;
}

/**
 * What a process has mapped before it loads anything (its global scope, in lookup order): the
 * executable, then the preloaded objects — `LD_PRELOAD` from its environment (glibc: separated
 * by spaces or ':'; musl: white space or ':'), then glibc's `/etc/ld.so.preload` (white space or
 * ':', '#' comments) — then the DT_NEEDED closure, breadth-first. A
 * preload that cannot be found is skipped, as both loaders skip it (glibc says so on stderr).
 */
export async function preloadNames(files: RootFileSource, env: readonly string[], family: string): Promise<string[]> {
  const split = (text: string, separators: RegExp) => text.split(separators).filter(Boolean);
  // glibc's handle_preload_list splits LD_PRELOAD on " :" only; musl's load_preload on white space and ':'.
  const names = split(envValue(env, 'LD_PRELOAD') ?? '', family === 'glibc' ? /[ :]+/ : /[\s:]+/);
  if (family === 'glibc') {
    // rtld.c: white space or ':' separated, '#' starts a comment to the end of the line.
    const file = await files.readFile('/etc/ld.so.preload');
    if (file) names.push(...split(file.toString('latin1').replace(/#[^\n]*/g, ''), /[ \t\n:]+/));
  }
  return names;
}

/** Load the program's closure breadth-first, as the loader does at start-up. */
export async function programScope(files: RootFileSource, search: LibrarySearch, program: LoadingProgram, env: readonly string[] = []): Promise<ProgramScope | null> {
  const bytes = await files.readFile(program.path);
  if (!bytes) return null;
  let facts: ElfFacts;
  try {
    facts = readElf(bytes);
  } catch (err) {
    if (err instanceof ElfFormatError) return null;
    throw err;
  }
  const executable: Requester = { facts, origin: dirname(program.path) };
  const objects: FoundLibrary[] = [];
  const unresolved: string[] = [];
  const musl = search.setup.family === 'musl';
  const preloads = await preloadNames(files, env, search.setup.family);
  await walkNeeded(
    search,
    [...preloads, ...facts.needed].map((name) => ({ name, requester: executable, askedThrough: '' })),
    { preresolve: async (name) => (musl && isMuslBuiltin(name) ? findMuslLoader(search, search.setup.arch) : undefined) },
    ({ name, result }) => {
      if (!isFound(result)) {
        unresolved.push(name);
        return;
      }
      objects.push(result);
    },
  );
  const notes: string[] = [];
  const addon = await koffiAddon(files, program, search.setup.family, facts.machine, notes);
  return { program, executable, objects, unresolved, dlopenedFirst: addon ? [addon] : [], notes };
}

/** The global scope in lookup order: the executable, then its libraries. */
export function globalScope(scope: ProgramScope | null | undefined): ScopeObject[] {
  if (!scope) return [];
  return [{ path: scope.program.path, name: scope.program.path, facts: scope.executable.facts }, ...scope.objects];
}

/** The object of the program's scope a plugin's DT_NEEDED name refers to, if already loaded. */
export function alreadyLoaded(scope: ProgramScope | null | undefined, name: string): FoundLibrary | null {
  if (!scope) return null;
  const loaded = scope.objects.find((o) => o.name === name || o.facts.soname === name);
  return loaded ? { ...loaded, via: 'already loaded' } : null;
}
