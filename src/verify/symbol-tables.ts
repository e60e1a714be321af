import type { SymbolDefinition } from '../elf/read-elf.js';

/**
 * Which defined symbols each loader's lookup will bind a reference to — by symbol type, binding,
 * visibility and value, as classes from the loaders' sources rather than cases.
 *
 * glibc (elf/dl-lookup.c): check_match skips a symbol with st_value 0 unless it is SHN_ABS or
 * STT_TLS, and any type outside ALLOWED_STT (NOTYPE, OBJECT, FUNC, COMMON, TLS, GNU_IFUNC);
 * do_lookup_x then skips hidden and internal visibility ("local, ignore them") and binds GLOBAL,
 * WEAK and GNU_UNIQUE, ignoring LOCAL.
 *
 * musl (ldso/dynlink.c find_sym): skips a symbol with st_value 0 unless STT_TLS (SHN_ABS or not),
 * types outside OK_TYPES (NOTYPE, OBJECT, FUNC, COMMON, TLS — no GNU_IFUNC: musl has no IFUNC) and
 * bindings outside OK_BINDS (GLOBAL, WEAK, GNU_UNIQUE). It never reads st_other.
 */
export type LoaderFamily = 'glibc' | 'musl';

const STT = { NOTYPE: 0, OBJECT: 1, FUNC: 2, COMMON: 5, TLS: 6, GNU_IFUNC: 10 } as const;
const STB = { LOCAL: 0, GLOBAL: 1, WEAK: 2, GNU_UNIQUE: 10 } as const;
const STV = { INTERNAL: 1, HIDDEN: 2 } as const;

interface SymbolTable {
  types: ReadonlySet<number>;
  bindings: ReadonlySet<number>;
  /** Visibilities the lookup passes over; empty when it never reads st_other. */
  skippedVisibilities: ReadonlySet<number>;
  /** A zero st_value is a definition when the symbol is SHN_ABS (glibc), not only when TLS. */
  absoluteZeroIsDefined: boolean;
}

export const SYMBOL_TABLES: Readonly<Record<LoaderFamily, SymbolTable>> = {
  glibc: {
    types: new Set([STT.NOTYPE, STT.OBJECT, STT.FUNC, STT.COMMON, STT.TLS, STT.GNU_IFUNC]),
    bindings: new Set([STB.GLOBAL, STB.WEAK, STB.GNU_UNIQUE]),
    skippedVisibilities: new Set([STV.HIDDEN, STV.INTERNAL]),
    absoluteZeroIsDefined: true,
  },
  musl: {
    types: new Set([STT.NOTYPE, STT.OBJECT, STT.FUNC, STT.COMMON, STT.TLS]),
    bindings: new Set([STB.GLOBAL, STB.WEAK, STB.GNU_UNIQUE]),
    skippedVisibilities: new Set(),
    absoluteZeroIsDefined: false,
  },
};

/** Why `family`'s lookup passes over a definition that has the reference's name, in words; null when it takes it. */
export function whyPassedOver(family: LoaderFamily, d: SymbolDefinition): string | null {
  const table = SYMBOL_TABLES[family];
  if (d.zeroValue && d.type !== STT.TLS && !(table.absoluteZeroIsDefined && d.absolute)) {
    return d.absolute ? `it is an absolute symbol of value 0, which ${family} treats as undefined` : 'its value is 0 (undefined to the loader)';
  }
  if (!table.types.has(d.type)) {
    return d.type === STT.GNU_IFUNC ? `it is an IFUNC (STT_GNU_IFUNC), which ${family} does not bind` : `its symbol type ${d.type} is not a code or data definition`;
  }
  if (!table.bindings.has(d.binding)) return d.binding === STB.LOCAL ? 'it is a local symbol (STB_LOCAL)' : `its binding ${d.binding} is not one ${family} binds`;
  if (table.skippedVisibilities.has(d.visibility)) return `its visibility is ${d.visibility === STV.HIDDEN ? 'hidden' : 'internal'}, which ${family} treats as local`;
  return null;
}

/** Would `family`'s lookup take this definition (before any version matching)? */
export const loaderTakes = (family: LoaderFamily, d: SymbolDefinition): boolean => whyPassedOver(family, d) === null;
