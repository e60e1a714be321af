import { ByteReader } from './byte-reader.js';
import { ElfFormatError } from './elf-error.js';
import { readElfHeader } from './elf-header.js';
import { type GoBuildInfo, parseGoBuildInfo } from './go-buildinfo.js';

export { ElfFormatError } from './elf-error.js';

export type ElfType = 'rel' | 'exec' | 'dyn' | 'core' | 'other';

export interface VersionedImport {
  symbol: string;
  version: string;
  library: string;
}

export interface ImportedSymbol {
  symbol: string;
  /** The symbol version it asks for, e.g. GLIBC_2.38; null when unversioned. */
  version: string | null;
  /** Weak references may stay unresolved without failing the load. */
  weak: boolean;
}

/** What a dynamic loader (and a compatibility check) needs to know about an ELF object. */
export interface ElfFacts {
  class: 32 | 64;
  littleEndian: boolean;
  machine: string;
  type: ElfType;
  /** PT_INTERP: the dynamic loader an executable asks for. */
  interpreter: string | null;
  /**
   * Whether the object asks for an executable stack: PT_GNU_STACK with PF_X, or no PT_GNU_STACK
   * at all (glibc then assumes the architecture default, executable on x86-64 and arm64).
   */
  executableStack: boolean;
  /** e_ident[EI_OSABI] and [EI_ABIVERSION]: glibc loads only SYSV (0) and GNU (3). */
  osabi: number;
  abiVersion: number;
  soname: string | null;
  /** DT_NEEDED, in file order. */
  needed: string[];
  /** DT_RPATH and DT_RUNPATH, as written (`$ORIGIN/../lib:/opt/x`); null when absent. */
  rpath: string | null;
  runpath: string | null;
  /** DT_FLAGS_1 (DF_1_NODEFLIB: the loader skips ld.so.cache and the default directories for this object's needs). */
  flags1: number;
  /** .gnu.version_r: the versions required from each library. */
  versionNeeds: Array<{ library: string; versions: string[] }>;
  /** Undefined symbols bound to a required version, sorted by library, version, symbol. */
  versionedImports: VersionedImport[];
  /** .gnu.version_d: the versions this object defines (a libc's GLIBC_2.2.5 … GLIBC_2.36). */
  versionDefinitions: string[];
  /** Whether the object has version definitions (.gnu.version_d) and symbol versions (.gnu.version) at all. */
  hasVersionDefinitions: boolean;
  hasVersionSymbols: boolean;
  /** Every undefined dynamic symbol, sorted by name. */
  imports: ImportedSymbol[];
  /** Every defined global or weak dynamic symbol name, sorted and unique. */
  exports: string[];
  goBuildInfo: GoBuildInfo | null;
}

// Caps that keep hostile input from turning into huge loops or allocations.
const MAX_SECTIONS = 65_535;
const MAX_ENTRIES = 1_000_000;

const SHT_DYNAMIC = 6;
const SHT_DYNSYM = 11;
const SHT_GNU_VERDEF = 0x6ffffffd;
const SHT_GNU_VERNEED = 0x6ffffffe;
const SHT_GNU_VERSYM = 0x6fffffff;
const PT_INTERP = 3;
const DT_NEEDED = 1;
const DT_SONAME = 14;
const DT_RPATH = 15;
const DT_RUNPATH = 29;
const DT_FLAGS_1 = 0x6ffffffb;
const VER_FLG_BASE = 1;
const STB_WEAK = 2;

interface Section {
  name: string;
  type: number;
  offset: number;
  size: number;
  link: number;
  info: number;
  entsize: number;
}

const TYPES: Record<number, ElfType> = { 1: 'rel', 2: 'exec', 3: 'dyn', 4: 'core' };

function sections(r: ByteReader, is64: boolean): Section[] {
  const shoff = r.word(is64 ? 40 : 32, is64, 'e_shoff');
  const shentsize = r.u16(is64 ? 58 : 46, 'e_shentsize');
  const shnum = r.u16(is64 ? 60 : 48, 'e_shnum');
  const shstrndx = r.u16(is64 ? 62 : 50, 'e_shstrndx');
  if (shoff === 0 || shnum === 0) return [];
  if (shnum > MAX_SECTIONS) throw new ElfFormatError(`${shnum} section headers is too many`);
  if (shentsize < (is64 ? 64 : 40)) throw new ElfFormatError(`section header size ${shentsize} is too small`);
  if (shoff + shnum * shentsize > r.length) throw new ElfFormatError(`section headers (${shnum} at offset ${shoff}) run past the end of the file`);
  const raw = Array.from({ length: shnum }, (_, i) => {
    const at = shoff + i * shentsize;
    return {
      nameOffset: r.u32(at, 'sh_name'),
      type: r.u32(at + 4, 'sh_type'),
      offset: r.word(at + (is64 ? 24 : 16), is64, 'sh_offset'),
      size: r.word(at + (is64 ? 32 : 20), is64, 'sh_size'),
      link: r.u32(at + (is64 ? 40 : 24), 'sh_link'),
      info: r.u32(at + (is64 ? 44 : 28), 'sh_info'),
      entsize: r.word(at + (is64 ? 56 : 36), is64, 'sh_entsize'),
    };
  });
  const strtab = raw[shstrndx];
  return raw.map((s) => {
    let name = '';
    if (strtab && strtab.type !== 8 /* NOBITS */ && strtab.offset + strtab.size <= r.length) {
      try {
        name = r.cstring(strtab.offset, strtab.offset + strtab.size, s.nameOffset, 'section name');
      } catch {
        name = '';
      }
    }
    return { name, type: s.type, offset: s.offset, size: s.size, link: s.link, info: s.info, entsize: s.entsize };
  });
}

function contents(r: ByteReader, s: Section, what: string): { start: number; end: number } {
  if (s.type === 8 /* NOBITS */) return { start: 0, end: 0 };
  r.slice(s.offset, s.size, what);
  return { start: s.offset, end: s.offset + s.size };
}

const PT_GNU_STACK = 0x6474e551;
const PF_X = 1;

/** What the program headers say: PT_INTERP and PT_GNU_STACK. */
function programHeaders(r: ByteReader, is64: boolean): { interpreter: string | null; executableStack: boolean } {
  const phoff = r.word(is64 ? 32 : 28, is64, 'e_phoff');
  const phentsize = r.u16(is64 ? 54 : 42, 'e_phentsize');
  const phnum = r.u16(is64 ? 56 : 44, 'e_phnum');
  const out = { interpreter: null as string | null, executableStack: true };
  if (phoff === 0 || phnum === 0) return out;
  if (phentsize < (is64 ? 56 : 32)) throw new ElfFormatError(`program header size ${phentsize} is too small`);
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    const type = r.u32(at, 'p_type');
    if (type === PT_GNU_STACK) out.executableStack = (r.u32(at + (is64 ? 4 : 24), 'p_flags') & PF_X) !== 0;
    if (type !== PT_INTERP) continue;
    const offset = r.word(at + (is64 ? 8 : 4), is64, 'p_offset');
    const size = r.word(at + (is64 ? 32 : 16), is64, 'p_filesz');
    const bytes = r.slice(offset, size, 'PT_INTERP');
    const end = bytes.indexOf(0);
    out.interpreter = Buffer.from(bytes.buffer, bytes.byteOffset, end < 0 ? bytes.length : end).toString('latin1');
  }
  return out;
}

/** sh_info holds a version section's entry count; an empty section has none. */
function entryCount(s: Section): number {
  if (s.size === 0) return 0;
  return s.info > 0 ? s.info : MAX_ENTRIES;
}

/** A chain of fixed-size records linked by relative `next` offsets (verneed, verdef). */
function* chain(r: ByteReader, start: number, end: number, count: number, nextAt: number, what: string): Generator<number> {
  let at = start;
  for (let i = 0; i < Math.min(count, MAX_ENTRIES); i++) {
    if (at < start || at >= end) throw new ElfFormatError(`${what} entry ${i} at offset ${at} is outside its section`);
    yield at;
    const next = r.u32(at + nextAt, `${what} next`);
    if (next === 0) return;
    at += next;
  }
}

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
    ...programHeaders(r, is64),
    osabi: r.u8(7, 'EI_OSABI'),
    abiVersion: r.u8(8, 'EI_ABIVERSION'),
    soname: null,
    needed: [],
    versionNeeds: [],
    versionedImports: [],
    versionDefinitions: [],
    imports: [],
    exports: [],
    goBuildInfo: null,
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
  if (dynamic) {
    const { start, end } = contents(r, dynamic, '.dynamic');
    const strings = stringsOf(dynamic);
    const size = is64 ? 16 : 8;
    for (let at = start; at + size <= end && (at - start) / size < MAX_ENTRIES; at += size) {
      const tag = is64 ? r.i64(at, 'd_tag') : r.u32(at, 'd_tag');
      if (tag === 0) break;
      if (tag === DT_FLAGS_1) {
        facts.flags1 = Number(r.word(at + size / 2, is64, 'd_val'));
        continue;
      }
      if (tag !== DT_NEEDED && tag !== DT_SONAME && tag !== DT_RPATH && tag !== DT_RUNPATH) continue;
      const name = r.cstring(strings.start, strings.end, r.word(at + size / 2, is64, 'd_val'), 'dynamic string');
      if (tag === DT_NEEDED) facts.needed.push(name);
      else if (tag === DT_SONAME) facts.soname = name;
      else if (tag === DT_RPATH) facts.rpath = name;
      else facts.runpath = name;
    }
  }

  // Version index → (version name, library) for required versions; defined ones by name.
  const required = new Map<number, { version: string; library: string }>();
  const verneed = byType(SHT_GNU_VERNEED);
  if (verneed) {
    const { start, end } = contents(r, verneed, '.gnu.version_r');
    const strings = stringsOf(verneed);
    for (const at of chain(r, start, end, entryCount(verneed), 12, 'verneed')) {
      const library = r.cstring(strings.start, strings.end, r.u32(at + 4, 'vn_file'), 'verneed file');
      const versions: string[] = [];
      const count = r.u16(at + 2, 'vn_cnt');
      for (const aux of chain(r, at + r.u32(at + 8, 'vn_aux'), end, count, 12, 'vernaux')) {
        const version = r.cstring(strings.start, strings.end, r.u32(aux + 8, 'vna_name'), 'vernaux name');
        versions.push(version);
        required.set(r.u16(aux + 6, 'vna_other') & 0x7fff, { version, library });
      }
      facts.versionNeeds.push({ library, versions });
    }
  }
  const verdef = byType(SHT_GNU_VERDEF);
  facts.hasVersionDefinitions = verdef !== undefined;
  facts.hasVersionSymbols = byType(SHT_GNU_VERSYM) !== undefined;
  if (verdef) {
    const { start, end } = contents(r, verdef, '.gnu.version_d');
    const strings = stringsOf(verdef);
    for (const at of chain(r, start, end, entryCount(verdef), 16, 'verdef')) {
      if ((r.u16(at + 2, 'vd_flags') & VER_FLG_BASE) !== 0) continue;
      const aux = at + r.u32(at + 12, 'vd_aux');
      facts.versionDefinitions.push(r.cstring(strings.start, strings.end, r.u32(aux, 'vda_name'), 'verdef name'));
    }
  }

  const dynsym = byType(SHT_DYNSYM);
  if (dynsym) {
    const { start, end } = contents(r, dynsym, '.dynsym');
    const strings = stringsOf(dynsym);
    const size = is64 ? 24 : 16;
    const count = Math.floor((end - start) / size);
    if (count > MAX_ENTRIES) throw new ElfFormatError(`${count} dynamic symbols is too many`);
    const versym = byType(SHT_GNU_VERSYM);
    const versions = versym ? contents(r, versym, '.gnu.version') : null;
    const exported = new Set<string>();
    for (let i = 1; i < count; i++) {
      const at = start + i * size;
      const name = r.cstring(strings.start, strings.end, r.u32(at, 'st_name'), 'symbol name');
      if (!name) continue;
      const info = r.u8(at + (is64 ? 4 : 12), 'st_info');
      const shndx = r.u16(at + (is64 ? 6 : 14), 'st_shndx');
      const bind = info >> 4;
      if (shndx === 0) {
        const index = versions && versions.start + 2 * i + 2 <= versions.end ? r.u16(versions.start + 2 * i, 'versym') & 0x7fff : 1;
        const need = required.get(index);
        facts.imports.push({ symbol: name, version: need?.version ?? null, weak: bind === STB_WEAK });
        if (need) facts.versionedImports.push({ symbol: name, version: need.version, library: need.library });
      } else if (bind === 1 || bind === STB_WEAK || bind === 10) {
        exported.add(name);
      }
    }
    facts.exports = [...exported].sort();
    facts.imports.sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0));
    facts.versionedImports.sort((a, b) => a.library.localeCompare(b.library) || a.version.localeCompare(b.version) || a.symbol.localeCompare(b.symbol));
  }

  const buildinfo = all.find((s) => s.name === '.go.buildinfo');
  if (buildinfo) {
    const { start, end } = contents(r, buildinfo, '.go.buildinfo');
    facts.goBuildInfo = parseGoBuildInfo(bytes.subarray(start, end));
  }
  return facts;
}
