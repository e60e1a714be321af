import { ByteReader } from './byte-reader.js';
import { readDynamicSection } from './dynamic-section.js';
import { readDynamicSymbols } from './dynamic-symbols.js';
import { ElfFormatError } from './elf-error.js';
import type { ElfFacts, ElfType } from './elf-facts.js';
import { readElfHeader } from './elf-header.js';
import { readGoSections } from './go-sections.js';
import { programHeaders } from './program-headers.js';
import { contents, type Section, sections, SHT_DYNAMIC, SHT_DYNSYM, SHT_GNU_VERDEF, SHT_GNU_VERNEED, SHT_GNU_VERSYM } from './sections.js';
import { readSymbolVersions } from './symbol-versions.js';

export { ElfFormatError } from './elf-error.js';
export type { DefinedReference, ElfFacts, ElfType, ImportedSymbol, StaticTlsReference, SymbolDefinition, TlsBlock, VersionedImport } from './elf-facts.js';

const TYPES: Record<number, ElfType> = { 1: 'rel', 2: 'exec', 3: 'dyn', 4: 'core' };

/** Parse an ELF object into the facts a loader and a compatibility check need. Throws ElfFormatError. */
export function readElf(bytes: Uint8Array): ElfFacts {
  if (bytes.length < 4 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
    throw new ElfFormatError('not an ELF file (bad magic)');
  }
  const header = readElfHeader(bytes);
  if (!header) throw new ElfFormatError('unsupported ELF class or byte order');
  const is64 = header.class === 64;
  const r = new ByteReader(bytes, header.littleEndian);
  r.slice(0, is64 ? 64 : 52, 'ELF header');
  const facts: ElfFacts = {
    class: header.class,
    littleEndian: header.littleEndian,
    machine: header.machine,
    type: TYPES[r.u16(16, 'e_type')] ?? 'other',
    ...programHeaders(r, is64, header.machine),
    osabi: r.u8(7, 'EI_OSABI'),
    abiVersion: r.u8(8, 'EI_ABIVERSION'),
    identVersion: r.u8(6, 'EI_VERSION'),
    identPaddingZero: bytes.subarray(9, 16).every((b) => b === 0),
    version: r.u32(20, 'e_version'),
    soname: null,
    needed: [],
    versionNeeds: [],
    versionedImports: [],
    versionDefinitions: [],
    imports: [],
    definedReferences: [],
    definitions: [],
    flags: 0,
    hasRelr: false,
    staticTlsReferences: [],
    relocationTypes: [],
    goBuildInfo: null,
    goPackageHashes: {},
    goMainFile: null,
    rpath: null,
    runpath: null,
    flags1: 0,
    hasVersionDefinitions: false,
    hasVersionSymbols: false,
  };
  const all = sections(r, is64);
  const byType = (type: number) => all.find((s) => s.type === type);
  const stringsOf = (s: Section) => {
    const table = all[s.link];
    if (!table) throw new ElfFormatError(`section ${s.name || s.type} links to missing string table ${s.link}`);
    return contents(r, table, 'string table');
  };

  const dynamic = byType(SHT_DYNAMIC);
  Object.assign(facts, readDynamicSection(r, is64, dynamic, () => stringsOf(dynamic as Section)));
  const versions = readSymbolVersions(r, byType(SHT_GNU_VERNEED), byType(SHT_GNU_VERDEF), stringsOf);
  Object.assign(facts, versions.facts);
  facts.hasVersionDefinitions = byType(SHT_GNU_VERDEF) !== undefined;
  facts.hasVersionSymbols = byType(SHT_GNU_VERSYM) !== undefined;
  const dynsym = byType(SHT_DYNSYM);
  if (dynsym) {
    Object.assign(facts, readDynamicSymbols(r, is64, facts.machine, { all, dynsym, strings: stringsOf(dynsym), versym: byType(SHT_GNU_VERSYM) }, versions, facts.loadSegments));
  }
  Object.assign(facts, readGoSections(r, bytes, all, header.littleEndian));
  return facts;
}
