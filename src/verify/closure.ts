import type { ElfFacts } from '../elf/read-elf.js';
import { providerHint } from './library-hints.js';
import { findMuslLoader, isFound, isMuslBuiltin, type Requester, walkNeeded } from './library-search.js';
import type { LoadProblem, LoadTarget, ResolvedLibrary } from './load-problem.js';
import { alreadyLoaded } from './loading-program.js';
import { execStackProblems, headerProblems } from './object-checks.js';

/** What a dlopen() of the plugin maps: its closure, and which of it is new to the process. */
export interface MappedClosure {
  /** The plugin's own DT_NEEDED names, as found. */
  resolved: Map<string, ResolvedLibrary>;
  /** Every object of the closure by the name it was asked for. */
  closure: Map<string, ResolvedLibrary>;
  /** What this dlopen() brings in (the program's objects were loaded, checked and relocated at its start), with the chain that asked for each. */
  newDependencies: Array<{ lib: ResolvedLibrary; via: string }>;
  problems: LoadProblem[];
}

/**
 * Map the plugin's closure as the loader does: the plugin's needs, then every dependency's own,
 * breadth-first, each found by the loader's search (or already in the process); a new dependency
 * gets the plugin's header and stack checks (dl_open_worker passes __RTLD_DLOPEN down).
 */
export async function mapClosure(plugin: ElfFacts, target: LoadTarget): Promise<MappedClosure> {
  const host = target.fingerprint;
  const problems: LoadProblem[] = [];
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
  return { resolved, closure, newDependencies, problems };
}
