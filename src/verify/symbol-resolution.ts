import type { ElfFacts } from '../elf/read-elf.js';
import type { LibcFamily } from '../env/fingerprint.js';
import { bindingRules, list, type LoadProblem, type LoadTarget, loaderName } from './load-problem.js';
import { bindSymbol, type ScopeObject } from './symbol-binding.js';
import type { FailedVersions } from './version-needs.js';

/**
 * RTLD_NOW relocates every newly loaded object: each strong reference — its undefined symbols,
 * and the defined ones its own relocations name — must bind in the lookup scope (the global
 * scope, then the plugin's closure breadth-first). An unbound one fails the load; a versioned
 * reference to an unversioned library it names aborts ld.so up to glibc 2.40.
 */
export function symbolResolutionProblems(
  relocated: ReadonlyArray<{ what: string; facts: ElfFacts }>,
  lookupScope: readonly ScopeObject[],
  ownClosure: ReadonlySet<string>,
  target: LoadTarget,
  context: { family: LibcFamily | null; failedVersions: FailedVersions },
): LoadProblem[] {
  const { family, failedVersions } = context;
  const musl = target.fingerprint.libc.family === 'musl';
  const hostLibc = `${target.fingerprint.libc.family} ${target.fingerprint.libc.version}`;
  const problems: LoadProblem[] = [];
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
  return problems;
}
