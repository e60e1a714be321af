import type { ElfFacts, TlsBlock } from '../elf/read-elf.js';
import { compareVersions } from '../elf/versions.js';
import { bindSymbol, type ScopeObject } from './symbol-binding.js';
import { OPTIONAL_STATIC_TLS, STATIC_TLS_SURPLUS, staticTlsShortfall } from './static-tls.js';
import { type LoadProblem, type LoadTarget, bindingRules, loaderName } from './load-problem.js';

/** Initial-exec TLS of the newly loaded objects against the static TLS the loading process has left. */

// R_X86_64_TLSDESC, R_AARCH64_TLSDESC: the relocations glibc resolves by TRY_STATIC_TLS.
export const TLSDESC: Readonly<Record<string, number>> = { x86_64: 36, aarch64: 1031 };

const usesTlsDescriptors = (facts: ElfFacts) => facts.relocationTypes.includes(TLSDESC[facts.machine] ?? -1);

/**
 * Initial-exec TLS in what a dlopen() brings in: each TPOFF relocation needs a static offset in
 * the block of the object defining its symbol. Objects loaded at start-up have one; a newly
 * loaded object's block must fit in glibc's surplus (musl has none: it refuses them all).
 */
export function staticTlsProblems(
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
    // glibc.rtld.optional_static_tls arrived in 2.32; before it, TLS descriptors could take the whole surplus.
    optional: compareVersions(target.fingerprint.libc.version, '2.32') < 0 ? Number.MAX_SAFE_INTEGER : (target.optionalStaticTls ?? OPTIONAL_STATIC_TLS),
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
