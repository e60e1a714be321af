import type { ElfFacts, ImportedSymbol, SymbolDefinition } from '../elf/read-elf.js';
import { whyPassedOver } from './symbol-tables.js';

/** An object in a lookup scope: its path, the names it answers to, and its symbols. */
export interface ScopeObject {
  path: string;
  /** The DT_NEEDED name it was loaded under (glibc's _dl_name_match_p also accepts its soname). */
  name: string;
  facts: ElfFacts;
}

export type Binding =
  | { kind: 'bound'; object: ScopeObject }
  /** A versioned reference met the library it names, which has no symbol versions: check_match's assertion aborts. */
  | { kind: 'crash'; object: ScopeObject }
  /** `passedOver`: the first object with a definition of that name the loader's tables refuse, and why. */
  | { kind: 'unbound'; passedOver?: { object: ScopeObject; why: string } };

/** Which loader binds: musl, or glibc with or without check_match's version assertion (removed in 2.41). */
export interface BindingRules {
  musl: boolean;
  versionAssert: boolean;
}

export interface Reference extends ImportedSymbol {
  /** The library its version need names (.gnu.version_r vn_file), for a versioned reference. */
  library?: string | null;
}

const namesMatch = (object: ScopeObject, name: string) => object.name === name || object.facts.soname === name;

/**
 * Does `object` satisfy `ref`, by glibc's check_match and do_lookup_x? For a versioned
 * reference: a definition of that version, or a base/unversioned one that is not hidden. For an
 * unversioned one: a definition at index 0–2 at once; else exactly one non-hidden versioned
 * definition ("no possible ambiguities"); hidden (foo@V) ones never.
 */
// A program's executable can define 100 000 symbols and a new dependency import thousands:
// each object's definitions are indexed by name once.
const indexes = new WeakMap<ElfFacts, Map<string, SymbolDefinition[]>>();
function definitionsOf(facts: ElfFacts, symbol: string): readonly SymbolDefinition[] {
  let index = indexes.get(facts);
  if (!index) {
    index = new Map();
    for (const d of facts.definitions) {
      const list = index.get(d.symbol);
      if (list) list.push(d);
      else index.set(d.symbol, [d]);
    }
    indexes.set(facts, index);
  }
  return index.get(symbol) ?? [];
}

function matchIn(object: ScopeObject, ref: Reference, { musl, versionAssert }: BindingRules, passedOver: (why: string) => void): Binding | null {
  const named = definitionsOf(object.facts, ref.symbol);
  if (named.length === 0) return null;
  if (musl) {
    // musl's hash lookup stops at the first entry of that name outside a hidden version (foo@V);
    // it compares no version names. find_sym then takes it or moves on to the next object.
    const first = named.find((d) => !d.hidden);
    const why = first ? whyPassedOver('musl', first) : null;
    if (first && why) passedOver(why);
    return first && !why ? { kind: 'bound', object } : null;
  }
  const candidates = named.filter((d) => whyPassedOver('glibc', d) === null);
  if (candidates.length === 0) {
    passedOver(whyPassedOver('glibc', named[0] as SymbolDefinition) as string);
    return null;
  }
  // glibc accepts any definition of an object without .gnu.version (check_match's assertion aside).
  if (!object.facts.hasVersionSymbols) {
    // glibc up to 2.40 asserts the object is not the one the version need names; 2.41 dropped that assert (bdaf500353).
    if (versionAssert && ref.version && ref.library && namesMatch(object, ref.library)) return { kind: 'crash', object };
    return { kind: 'bound', object };
  }
  if (ref.version) {
    const ok = candidates.some((d) => d.version === ref.version || (d.versionIndex !== null && d.versionIndex <= 1 && !d.hidden));
    return ok ? { kind: 'bound', object } : null;
  }
  if (candidates.some((d) => d.versionIndex === null || d.versionIndex < 3)) return { kind: 'bound', object };
  return candidates.filter((d) => !d.hidden).length === 1 ? { kind: 'bound', object } : null;
}

/** Bind `ref` in scope order (the global scope, then the plugin's closure breadth-first): the first object that matches. */
export function bindSymbol(scope: readonly ScopeObject[], ref: Reference, rules: BindingRules): Binding {
  let passedOver: { object: ScopeObject; why: string } | undefined;
  for (const object of scope) {
    const binding = matchIn(object, ref, rules, (why) => (passedOver ??= { object, why }));
    if (binding) return binding;
  }
  return passedOver ? { kind: 'unbound', passedOver } : { kind: 'unbound' };
}
