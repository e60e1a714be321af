import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ElfFacts, SymbolDefinition } from '../../../src/elf/read-elf.js';
import { bindSymbol, type ScopeObject } from '../../../src/verify/symbol-binding.js';
import { loaderTakes, whyPassedOver } from '../../../src/verify/symbol-tables.js';

const def = (over: Partial<SymbolDefinition> = {}): SymbolDefinition => ({
  symbol: 'f', versionIndex: null, version: null, hidden: false, type: 2, binding: 1, visibility: 0, zeroValue: false, absolute: false, ...over,
});
const object = (path: string, definitions: SymbolDefinition[]): ScopeObject =>
  ({ path, name: path, facts: { definitions, hasVersionSymbols: false } as unknown as ElfFacts });
const GLIBC = { musl: false, versionAssert: false };
const MUSL = { musl: true, versionAssert: false };

describe("which definitions each loader's lookup takes (glibc check_match/do_lookup_x, musl find_sym)", () => {
  it('an IFUNC: glibc takes it, musl does not', () => {
    expect(loaderTakes('glibc', def({ type: 10 }))).toBe(true);
    expect(whyPassedOver('musl', def({ type: 10 }))).toBe('it is an IFUNC (STT_GNU_IFUNC), which musl does not bind');
  });

  it('value 0: absolute (SHN_ABS) is defined to glibc only; TLS is defined to both; otherwise undefined to both', () => {
    expect(loaderTakes('glibc', def({ zeroValue: true, absolute: true }))).toBe(true);
    expect(whyPassedOver('musl', def({ zeroValue: true, absolute: true }))).toBe('it is an absolute symbol of value 0, which musl treats as undefined');
    expect(loaderTakes('glibc', def({ zeroValue: true, type: 6 }))).toBe(true);
    expect(loaderTakes('musl', def({ zeroValue: true, type: 6 }))).toBe(true);
    expect(loaderTakes('glibc', def({ zeroValue: true }))).toBe(false);
    expect(loaderTakes('musl', def({ zeroValue: true }))).toBe(false);
  });

  it('hidden or internal visibility: local to glibc, invisible to musl (which never reads st_other); protected binds on both', () => {
    for (const visibility of [1, 2]) {
      expect(loaderTakes('glibc', def({ visibility }))).toBe(false);
      expect(loaderTakes('musl', def({ visibility }))).toBe(true);
    }
    expect(loaderTakes('glibc', def({ visibility: 3 }))).toBe(true);
  });

  it('bindings: GLOBAL, WEAK and GNU_UNIQUE bind on both; LOCAL and others on neither; SECTION and FILE types on neither', () => {
    for (const binding of [1, 2, 10]) for (const family of ['glibc', 'musl'] as const) expect(loaderTakes(family, def({ binding }))).toBe(true);
    for (const binding of [0, 3, 11, 13]) for (const family of ['glibc', 'musl'] as const) expect(loaderTakes(family, def({ binding }))).toBe(false);
    for (const type of [3, 4, 7, 11, 13]) for (const family of ['glibc', 'musl'] as const) expect(loaderTakes(family, def({ type }))).toBe(false);
    expect(whyPassedOver('glibc', def({ binding: 0 }))).toBe('it is a local symbol (STB_LOCAL)');
  });

  it('every st_info/st_other/value combination: musl and glibc differ only on IFUNC, absolute zero and visibility', () => {
    fc.assert(
      fc.property(fc.nat(15), fc.nat(15), fc.nat(3), fc.boolean(), fc.boolean(), (type, binding, visibility, zeroValue, absolute) => {
        const d = def({ type, binding, visibility, zeroValue, absolute });
        // With the three differing classes taken out (IFUNC → FUNC, absolute zero → a plain value, visibility → default), the tables agree.
        const neutral = def({ type: type === 10 ? 2 : type, binding, visibility: 0, zeroValue: zeroValue && !absolute, absolute: false });
        expect(loaderTakes('musl', neutral)).toBe(loaderTakes('glibc', neutral));
        // Whatever either takes is a GLOBAL, WEAK or GNU_UNIQUE definition.
        if (loaderTakes('glibc', d) || loaderTakes('musl', d)) expect([1, 2, 10]).toContain(binding);
      }),
    );
  });

  it('binding: musl stops at the first definition of the name in an object and moves on to the next object; the unbound answer says what was passed over', () => {
    const ifuncFirst = object('/lib/libi.so', [def({ type: 10 }), def()]);
    const later = object('/lib/libj.so', [def()]);
    expect(bindSymbol([ifuncFirst], { symbol: 'f', version: null, weak: false }, MUSL)).toEqual({
      kind: 'unbound',
      passedOver: { object: ifuncFirst, why: 'it is an IFUNC (STT_GNU_IFUNC), which musl does not bind' },
    });
    expect(bindSymbol([ifuncFirst, later], { symbol: 'f', version: null, weak: false }, MUSL)).toEqual({ kind: 'bound', object: later });
    expect(bindSymbol([ifuncFirst], { symbol: 'f', version: null, weak: false }, GLIBC)).toEqual({ kind: 'bound', object: ifuncFirst });
    const hidden = object('/lib/libh.so', [def({ visibility: 2 })]);
    expect(bindSymbol([hidden], { symbol: 'f', version: null, weak: false }, GLIBC)).toMatchObject({ kind: 'unbound', passedOver: { why: 'its visibility is hidden, which glibc treats as local' } });
    expect(bindSymbol([hidden], { symbol: 'f', version: null, weak: false }, MUSL)).toEqual({ kind: 'bound', object: hidden });
  });
});
