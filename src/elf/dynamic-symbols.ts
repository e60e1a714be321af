import type { ByteReader } from './byte-reader.js';
import { ElfFormatError } from './elf-error.js';
import type { DefinedReference, ElfFacts, StaticTlsReference } from './elf-facts.js';
import { bytesAt, GO_PACKAGE_HASH } from './go-sections.js';
import { contents, dynamicRelocations, MAX_ENTRIES, type Section } from './sections.js';
import type { SymbolVersions } from './symbol-versions.js';

const STB_LOCAL = 0;
const STB_WEAK = 2;
const SHN_UNDEF = 0;
const SHN_ABS = 0xfff1;
const STV_DEFAULT = 0;

// Relocations that place a TLS offset from the thread pointer: initial-exec TLS.
const TPOFF_TYPES: Record<string, ReadonlySet<number>> = {
  x86_64: new Set([18 /* R_X86_64_TPOFF64 */, 23 /* R_X86_64_TPOFF32 */]),
  aarch64: new Set([1030 /* R_AARCH64_TLS_TPREL64 */]),
  i386: new Set([14 /* R_386_TLS_TPOFF */, 37 /* R_386_TLS_TPOFF32 */]),
  arm: new Set([19 /* R_ARM_TLS_TPOFF32 */]),
  riscv64: new Set([11 /* R_RISCV_TLS_TPREL64 */]),
};

export type SymbolFacts = Pick<ElfFacts, 'imports' | 'versionedImports' | 'definitions' | 'definedReferences' | 'goPackageHashes' | 'staticTlsReferences' | 'relocationTypes'>;

interface DynamicSymbolTable {
  all: Section[];
  dynsym: Section;
  strings: { start: number; end: number };
  versym: Section | undefined;
}

const byName = <T extends { symbol: string }>(a: T, b: T) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0);

/**
 * .dynsym and the relocations against it: what the object imports (with the versions it needs),
 * what it defines (with what each loader's lookup looks at), which of its own definitions its
 * relocations name, its initial-exec TLS references, its relocation types and Go package hashes.
 */
export function readDynamicSymbols(r: ByteReader, is64: boolean, machine: string, table: DynamicSymbolTable, versions: SymbolVersions, loadSegments: ElfFacts['loadSegments']): SymbolFacts {
  const facts: SymbolFacts = { imports: [], versionedImports: [], definitions: [], definedReferences: [], goPackageHashes: {}, staticTlsReferences: [], relocationTypes: [] };
  const { all, dynsym, strings } = table;
  const { start, end } = contents(r, dynsym, '.dynsym');
  const size = is64 ? 24 : 16;
  const count = Math.floor((end - start) / size);
  if (count > MAX_ENTRIES) throw new ElfFormatError(`${count} dynamic symbols is too many`);
  const versym = table.versym ? contents(r, table.versym, '.gnu.version') : null;
  const versymOf = (i: number) => (versym && versym.start + 2 * i + 2 <= versym.end ? r.u16(versym.start + 2 * i, 'versym') : null);
  const referable = new Map<number, DefinedReference>();
  for (let i = 1; i < count; i++) {
    const at = start + i * size;
    const name = r.cstring(strings.start, strings.end, r.u32(at, 'st_name'), 'symbol name');
    if (!name) continue;
    const info = r.u8(at + (is64 ? 4 : 12), 'st_info');
    const other = r.u8(at + (is64 ? 5 : 13), 'st_other');
    const shndx = r.u16(at + (is64 ? 6 : 14), 'st_shndx');
    // Both loaders ask only whether st_value is 0; any 64-bit value is a valid definition.
    const zeroValue = is64 ? r.u32(at + 8, 'st_value') === 0 && r.u32(at + 12, 'st_value') === 0 : r.u32(at + 4, 'st_value') === 0;
    const bind = info >> 4;
    const type = info & 0xf;
    if (shndx === SHN_UNDEF) {
      const need = versions.required.get((versymOf(i) ?? 1) & 0x7fff);
      facts.imports.push({ symbol: name, version: need?.version ?? null, weak: bind === STB_WEAK });
      if (need) facts.versionedImports.push({ symbol: name, version: need.version, library: need.library });
      continue;
    }
    const visibility = other & 3;
    if (name.startsWith(GO_PACKAGE_HASH) && bind !== STB_LOCAL && !zeroValue && visibility === STV_DEFAULT) {
      const hash = bytesAt(r, loadSegments, r.word(at + (is64 ? 8 : 4), is64, 'st_value'), r.word(at + (is64 ? 16 : 8), is64, 'st_size'));
      if (hash) facts.goPackageHashes[name.slice(GO_PACKAGE_HASH.length)] = hash;
    }
    const entry = versymOf(i);
    const versionIndex = entry === null ? null : entry & 0x7fff;
    if (bind !== STB_LOCAL) referable.set(i, { symbol: name, version: versionIndex !== null && versionIndex >= 2 ? (versions.defined.get(versionIndex) ?? null) : null, weak: bind === STB_WEAK, visibility });
    facts.definitions.push({
      symbol: name,
      versionIndex,
      version: versionIndex === null ? null : (versions.defined.get(versionIndex) ?? null),
      hidden: entry !== null && (entry & 0x8000) !== 0,
      type,
      binding: bind,
      visibility,
      zeroValue,
      absolute: shndx === SHN_ABS,
    });
  }
  const dynsymIndex = all.indexOf(dynsym);
  facts.staticTlsReferences = staticTlsReferences(r, is64, machine, all, dynsymIndex, start, end, strings);
  const types = new Set<number>();
  const referenced = new Map<number, DefinedReference>();
  for (const { type, index } of dynamicRelocations(r, is64, all, dynsymIndex)) {
    types.add(type);
    // R_*_NONE is 0 on every architecture: both loaders skip it before any lookup.
    const reference = type === 0 ? undefined : referable.get(index);
    if (reference) referenced.set(index, reference);
  }
  facts.relocationTypes = [...types].sort((a, b) => a - b);
  facts.definedReferences = [...referenced.values()].sort(byName);
  facts.imports.sort(byName);
  facts.versionedImports.sort((a, b) => a.library.localeCompare(b.library) || a.version.localeCompare(b.version) || a.symbol.localeCompare(b.symbol));
  return facts;
}

/**
 * Initial-exec TLS relocations in the dynamic relocation sections: each names the TLS block it
 * needs a static offset into. Symbol 0, a local symbol or a non-default-visibility one is this
 * object's own block; any other named symbol is looked up like every symbol (a Go plugin's
 * runtime.tlsg, defined in the plugin and in its host, binds to the host's, in static TLS).
 */
function staticTlsReferences(
  r: ByteReader,
  is64: boolean,
  machine: string,
  all: Section[],
  dynsymIndex: number,
  symStart: number,
  symEnd: number,
  strings: { start: number; end: number },
): StaticTlsReference[] {
  const types = TPOFF_TYPES[machine];
  if (!types) return [];
  const symSize = is64 ? 24 : 16;
  const targets = new Map<string, StaticTlsReference>();
  for (const { type, index } of dynamicRelocations(r, is64, all, dynsymIndex)) {
    if (!types.has(type)) continue;
    let symbol: string | null = null;
    const sym = symStart + index * symSize;
    if (index !== 0 && sym + symSize <= symEnd) {
      const undefined = r.u16(sym + (is64 ? 6 : 14), 'st_shndx') === SHN_UNDEF;
      const binding = r.u8(sym + (is64 ? 4 : 12), 'st_info') >> 4;
      const visibility = r.u8(sym + (is64 ? 5 : 13), 'st_other') & 3;
      if (undefined || (binding !== STB_LOCAL && visibility === STV_DEFAULT)) symbol = r.cstring(strings.start, strings.end, r.u32(sym, 'st_name'), 'symbol name');
    }
    targets.set(symbol ?? '', { symbol });
  }
  return [...targets.values()];
}
