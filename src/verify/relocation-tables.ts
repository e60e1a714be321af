/**
 * The dynamic relocation types each loader applies, per architecture — from the loaders'
 * sources, not from what our fixtures happen to contain.
 *
 * musl (arch/<arch>/reloc.h maps its REL_* cases; ldso/dynlink.c do_relocs applies those and
 * answers anything else with "Error relocating <file>: unsupported relocation type <n>"). It has
 * no IFUNC support at all: R_*_IRELATIVE is such a type.
 *
 * glibc (sysdeps/<arch>/dl-machine.h, elf_machine_rela and elf_machine_rela_relative, with the
 * lazy PLT types of elf_machine_lazy_rel); anything else is _dl_reloc_bad_type:
 * "<file>: unexpected reloc type 0x<hex>".
 */
const X86_64 = { NONE: 0, R64: 1, PC32: 2, COPY: 5, GLOB_DAT: 6, JUMP_SLOT: 7, RELATIVE: 8, R32: 10, DTPMOD64: 16, DTPOFF64: 17, TPOFF64: 18, SIZE32: 32, SIZE64: 33, TLSDESC: 36, IRELATIVE: 37 };
const AARCH64 = { NONE: 0, ABS64: 257, COPY: 1024, GLOB_DAT: 1025, JUMP_SLOT: 1026, RELATIVE: 1027, TLS_DTPMOD: 1028, TLS_DTPREL: 1029, TLS_TPREL: 1030, TLSDESC: 1031, IRELATIVE: 1032 };

const SUPPORTED: Record<'glibc' | 'musl', Record<string, ReadonlySet<number>>> = {
  musl: {
    x86_64: new Set([X86_64.NONE, X86_64.R64, X86_64.PC32, X86_64.COPY, X86_64.GLOB_DAT, X86_64.JUMP_SLOT, X86_64.RELATIVE, X86_64.DTPMOD64, X86_64.DTPOFF64, X86_64.TPOFF64, X86_64.TLSDESC]),
    aarch64: new Set([AARCH64.NONE, AARCH64.ABS64, AARCH64.COPY, AARCH64.GLOB_DAT, AARCH64.JUMP_SLOT, AARCH64.RELATIVE, AARCH64.TLS_DTPMOD, AARCH64.TLS_DTPREL, AARCH64.TLS_TPREL, AARCH64.TLSDESC]),
  },
  glibc: {
    x86_64: new Set(Object.values(X86_64)),
    aarch64: new Set(Object.values(AARCH64)),
  },
};

const NAMES: Record<string, Record<number, string>> = {
  x86_64: Object.fromEntries(Object.entries(X86_64).map(([k, v]) => [v, `R_X86_64_${k.replace(/^R(\d+)$/, '$1')}`])),
  aarch64: Object.fromEntries(Object.entries(AARCH64).map(([k, v]) => [v, `R_AARCH64_${k}`])),
};

export function relocationName(machine: string, type: number): string {
  return NAMES[machine]?.[type] ?? `type ${type}`;
}

/** The relocation types of `types` the loader does not apply; null when the architecture's table is not known here. */
export function unsupportedRelocations(family: 'glibc' | 'musl', machine: string, types: readonly number[]): number[] | null {
  const table = SUPPORTED[family][machine];
  if (!table) return null;
  return types.filter((t) => !table.has(t));
}

/** The loader's own words for the first unsupported type. */
export function relocationRefusal(family: 'glibc' | 'musl', path: string, type: number): string {
  return family === 'musl' ? `Error relocating ${path}: unsupported relocation type ${type}` : `${path}: unexpected reloc type 0x${type.toString(16)}`;
}
