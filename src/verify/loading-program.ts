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
}

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const SHELLS = new Set(['sh', 'bash', 'dash', 'ash']);

/** argv[0] of a container: Entrypoint, else Cmd; through `sh -c "exec prog …"` and `#!` scripts. */
function firstWord(argv: readonly string[]): string | null {
  const [head, flag, script] = argv;
  if (!head) return null;
  if (SHELLS.has(posix.basename(head)) && flag === '-c' && script) {
    const words = script.trim().split(/\s+/).filter((w) => !/^[A-Za-z_][A-Za-z0-9_]*=/.test(w));
    return (words[0] === 'exec' ? words[1] : words[0]) ?? null;
  }
  return head;
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
  image: { env: readonly string[]; entrypoint: readonly string[]; cmd: readonly string[] },
  choice: { hostBinary?: string | undefined; override?: string | undefined },
): Promise<LoadingProgram | null> {
  if (choice.override) return { path: choice.override, how: '--loader-program' };
  if (choice.hostBinary) return { path: choice.hostBinary, how: 'host.binary' };
  const how = image.entrypoint.length > 0 ? 'image entrypoint' : 'image cmd';
  const word = firstWord(image.entrypoint.length > 0 ? image.entrypoint : image.cmd);
  if (!word) return null;
  const found = await onPath(files, word, image.env);
  const executable = found ? await executableOf(files, found, image.env) : null;
  return executable ? { path: executable, how } : null;
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
  return { program, executable, objects, unresolved };
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
