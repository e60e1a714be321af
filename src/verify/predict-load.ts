import type { ElfFacts } from '../elf/read-elf.js';
import { mapClosure } from './closure.js';
import { globalScope } from './loading-program.js';
import type { ScopeObject } from './symbol-binding.js';
import type { LoadProblem, LoadTarget } from './load-problem.js';
import { builtAgainst, headerProblems, relocationProblems, relrProblems, isaLevelProblems, execStackProblems } from './object-checks.js';
import { symbolResolutionProblems } from './symbol-resolution.js';
import { dependencyVersionProblems, type FailedVersions, pluginVersionProblems, unloadedVersionNeeds } from './version-needs.js';
import { staticTlsProblems } from './static-tls-problems.js';

/**
 * Predict whether the host's dynamic loader would load this object with RTLD_NOW, by doing
 * what it does, step by step: the object's own checks, its closure found on the host's search
 * path, every required symbol version (glibc; musl ignores versions), every symbol its
 * relocations name bound in scope, relocation types, static TLS, ISA level and packed
 * relocations. Returns the problems; none means it would load.
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

  const musl = host.libc.family === 'musl';
  const problems: LoadProblem[] = [...headerProblems(plugin, host)];
  const mapped = await mapClosure(plugin, target);
  problems.push(...mapped.problems);
  const failedVersions: FailedVersions = new Set();
  if (!musl) problems.push(...dependencyVersionProblems(mapped, failedVersions));
  problems.push(...execStackProblems(plugin, 'the plugin', host, target.scope?.executable.facts.executableStack === true));
  if (!musl) problems.push(...pluginVersionProblems(plugin, mapped.resolved, hostLibc, failedVersions));

  // Relocation happens only once every object is found.
  if (problems.some((p) => p.check === 'missing-library')) return problems;
  const global = globalScope(target.scope);
  const local: ScopeObject[] = [{ path: 'the plugin', name: plugin.soname ?? '', facts: plugin }, ...mapped.closure.values()];
  const lookupScope = [...global, ...local.filter((o) => !global.some((g) => g.path === o.path))];
  const relocated: Array<{ what: string; facts: ElfFacts }> = [{ what: 'the plugin', facts: plugin }, ...mapped.newDependencies.map(({ lib }) => ({ what: lib.path, facts: lib.facts }))];
  if (!musl) problems.push(...unloadedVersionNeeds(relocated, lookupScope));
  problems.push(...symbolResolutionProblems(relocated, lookupScope, new Set(local.map((o) => o.path)), target, { family, failedVersions }));
  problems.push(...relocated.flatMap(({ what, facts }) => relocationProblems(what, facts, host.libc.family, target.pluginPath)));
  problems.push(...staticTlsProblems(relocated, lookupScope, global, target, musl));
  if (!musl) problems.push(...relocated.flatMap(({ what, facts }) => [...isaLevelProblems(what, facts, target), ...relrProblems(what, facts)]));
  return problems;
}
