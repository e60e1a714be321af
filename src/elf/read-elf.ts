import { ByteReader } from './byte-reader.js';
import { ElfFormatError } from './elf-error.js';
import { goFunctionFile } from './go-pclntab.js';
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

/**
 * A defined dynamic symbol, with what each loader's lookup looks at before it binds a reference
 * to it (src/verify/symbol-tables.ts holds the loaders' tables: glibc's check_match and
 * do_lookup_x, musl's find_sym).
 */
export interface SymbolDefinition {
  symbol: string;
  /** Its .gnu.version index (0 local, 1 the base, 2… a defined version); null without .gnu.version. */
  versionIndex: number | null;
  /** The version's name for an index ≥ 2 defined in .gnu.version_d. */
  version: string | null;
  /** Bit 0x8000 of its .gnu.version entry: a non-default version (foo@V, not foo@@V). */
  hidden: boolean;
  /** ELF st_info's type (STT_*) and binding (STB_*), st_other's visibility (STV_*). */
  type: number;
  binding: number;
  visibility: number;
  /** st_value is 0; `absolute`: st_shndx is SHN_ABS. */
  zeroValue: boolean;
  absolute: boolean;
}

export interface DefinedReference extends ImportedSymbol {
  /** st_other's visibility: glibc binds hidden and internal ones to the object itself, without a lookup. */
  visibility: number;
}

/** PT_TLS: this object's thread-local block. */
export interface TlsBlock {
  memsz: number;
  align: number;
  /** p_vaddr modulo the alignment: where the block's first byte sits in its aligned slot. */
  firstByteOffset: number;
}

/**
 * A relocation that needs an offset in the static TLS block (initial-exec TLS): against this
 * object's own block (symbol null) or a named symbol's, wherever the loader binds it.
 */
export interface StaticTlsReference {
  symbol: string | null;
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
   * at all on an architecture whose default is executable (x86-64 yes, aarch64 no).
   */
  executableStack: boolean;
  /** e_ident[EI_OSABI] and [EI_ABIVERSION]: glibc loads only SYSV (0) and GNU (3). */
  osabi: number;
  abiVersion: number;
  /** What glibc's open_verify checks besides those: e_ident[EI_VERSION], e_ident's padding, e_version, e_phentsize. */
  identVersion: number;
  identPaddingZero: boolean;
  version: number;
  phentsize: number;
  /** PT_LOAD segments (their file offset and address), and whether a non-empty PT_DYNAMIC exists. */
  loadSegments: Array<{ offset: number; vaddr: number; filesz: number }>;
  hasDynamicSegment: boolean;
  /** GNU_PROPERTY_X86_ISA_1_NEEDED of the first GNU property note (baseline 1, v2 2, v3 4, v4 8); 0 when absent. */
  x86IsaNeeded: number;
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
  /** Every defined dynamic symbol with its version, in symbol table order. */
  definitions: SymbolDefinition[];
  /**
   * Defined, non-local symbols its own dynamic relocations name: the loader looks these up in
   * scope like imports (an earlier definition interposes; finding no definition it accepts, not
   * even this one, fails the load), sorted by name.
   */
  definedReferences: DefinedReference[];
  /** PT_TLS, when the object has thread-local storage. */
  tls: TlsBlock | null;
  /** DT_FLAGS (DF_STATIC_TLS 0x10: the object uses initial-exec TLS). */
  flags: number;
  /** DT_RELR: packed relative relocations (glibc ≥ 2.36). */
  hasRelr: boolean;
  /** Initial-exec TLS relocations (TPOFF), one per distinct target. */
  staticTlsReferences: StaticTlsReference[];
  /** Every type of the dynamic relocations (the ones the loader applies), sorted. */
  relocationTypes: number[];
  goBuildInfo: GoBuildInfo | null;
  /**
   * Go: each linked package's link-time hash (`go.link.pkghashbytes.<package>`, hex), which
   * plugin.Open compares between a plugin and its host. Empty for anything but Go plugins and
   * hosts that import "plugin" (they export these symbols dynamically).
   */
  goPackageHashes: Record<string, string>;
  /** Go executables: the source file of main.main, from the pclntab (absolute without -trimpath). */
  goMainFile: string | null;
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
const DT_FLAGS = 30;
const DT_RELR = 36;
const DT_FLAGS_1 = 0x6ffffffb;
const VER_FLG_BASE = 1;
const STB_WEAK = 2;
const SHN_UNDEF = 0;
const STB_LOCAL = 0;
const STV_DEFAULT = 0;
const SHN_ABS = 0xfff1;
const SHT_RELA = 4;
const SHT_REL = 9;
// Relocations that place a TLS offset from the thread pointer: initial-exec TLS.
const TPOFF_TYPES: Record<string, ReadonlySet<number>> = {
  x86_64: new Set([18 /* R_X86_64_TPOFF64 */, 23 /* R_X86_64_TPOFF32 */]),
  aarch64: new Set([1030 /* R_AARCH64_TLS_TPREL64 */]),
  i386: new Set([14 /* R_386_TLS_TPOFF */, 37 /* R_386_TLS_TPOFF32 */]),
  arm: new Set([19 /* R_ARM_TLS_TPOFF32 */]),
  riscv64: new Set([11 /* R_RISCV_TLS_TPREL64 */]),
};

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
const PT_TLS = 7;
const PF_X = 1;

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const MAX_LISTED_SEGMENTS = 64;

type ProgramHeaderFacts = Pick<ElfFacts, 'interpreter' | 'executableStack' | 'tls' | 'phentsize' | 'loadSegments' | 'hasDynamicSegment' | 'x86IsaNeeded'>;

const PT_NOTE = 4;
const PT_GNU_PROPERTY = 0x6474e553;
const NT_GNU_PROPERTY_TYPE_0 = 5;
const GNU_PROPERTY_X86_ISA_1_NEEDED = 0xc0008002;

/**
 * The first NT_GNU_PROPERTY_TYPE_0 note in a segment, as glibc's _dl_process_pt_gnu_property /
 * _dl_process_pt_note read it: its X86_ISA_1_NEEDED value, 0 without one; null when the segment
 * holds no property note.
 */
function x86IsaNeededIn(r: ByteReader, is64: boolean, offset: number, size: number): number | null {
  const align = is64 ? 8 : 4;
  const end = offset + size;
  for (let at = offset, notes = 0; at + 12 <= end && notes < 64; notes++) {
    const namesz = r.u32(at, 'n_namesz');
    const descsz = r.u32(at + 4, 'n_descsz');
    const type = r.u32(at + 8, 'n_type');
    const desc = at + 12 + Math.ceil(namesz / 4) * 4;
    const next = desc + Math.ceil(descsz / align) * align;
    if (next > end || next <= at) return null;
    const isGnu = namesz === 4 && r.u32(at + 12, 'n_name') === 0x00554e47; // "GNU\0"
    if (isGnu && type === NT_GNU_PROPERTY_TYPE_0) {
      for (let p = desc; p + 8 <= desc + descsz; ) {
        const prType = r.u32(p, 'pr_type');
        const datasz = r.u32(p + 4, 'pr_datasz');
        if (prType === GNU_PROPERTY_X86_ISA_1_NEEDED && datasz === 4) return r.u32(p + 8, 'pr_data');
        p += 8 + Math.ceil(datasz / align) * align;
      }
      return 0;
    }
    at = next;
  }
  return null;
}

// glibc's DEFAULT_STACK_PERMS when an object has no PT_GNU_STACK: executable on x86 (and most
// others), not on aarch64.
const STACK_EXECUTABLE_BY_DEFAULT = (machine: string) => machine !== 'aarch64';

/** What the program headers say: PT_INTERP, PT_GNU_STACK, PT_TLS, PT_LOAD, PT_DYNAMIC, the GNU property note. */
function programHeaders(r: ByteReader, is64: boolean, machine: string): ProgramHeaderFacts {
  const phoff = r.word(is64 ? 32 : 28, is64, 'e_phoff');
  const phentsize = r.u16(is64 ? 54 : 42, 'e_phentsize');
  const phnum = r.u16(is64 ? 56 : 44, 'e_phnum');
  const out: ProgramHeaderFacts = { interpreter: null, executableStack: STACK_EXECUTABLE_BY_DEFAULT(machine), tls: null, phentsize, loadSegments: [], hasDynamicSegment: false, x86IsaNeeded: 0 };
  if (phoff === 0 || phnum === 0) return out;
  // glibc refuses any other entry size before reading an entry ("ELF file's phentsize not the
  // expected size"): there is nothing more to read from the headers then.
  if (phentsize !== (is64 ? 56 : 32)) return out;
  const notes: Array<{ offset: number; size: number; property: boolean }> = [];
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    const type = r.u32(at, 'p_type');
    if (type === PT_NOTE || type === PT_GNU_PROPERTY) {
      notes.push({ offset: r.word(at + (is64 ? 8 : 4), is64, 'p_offset'), size: r.word(at + (is64 ? 32 : 16), is64, 'p_filesz'), property: type === PT_GNU_PROPERTY });
    }
    if (type === PT_GNU_STACK) out.executableStack = (r.u32(at + (is64 ? 4 : 24), 'p_flags') & PF_X) !== 0;
    if (type === PT_LOAD && out.loadSegments.length < MAX_LISTED_SEGMENTS) {
      out.loadSegments.push({
        offset: r.word(at + (is64 ? 8 : 4), is64, 'p_offset'),
        vaddr: r.word(at + (is64 ? 16 : 8), is64, 'p_vaddr'),
        filesz: r.word(at + (is64 ? 32 : 16), is64, 'p_filesz'),
      });
    }
    if (type === PT_DYNAMIC && r.word(at + (is64 ? 32 : 16), is64, 'p_filesz') > 0) out.hasDynamicSegment = true;
    if (type === PT_TLS) {
      const memsz = r.word(at + (is64 ? 40 : 20), is64, 'p_memsz');
      // An empty PT_TLS gives the object no TLS block at all (glibc skips it).
      const align = Math.max(1, r.word(at + (is64 ? 48 : 28), is64, 'p_align'));
      if (memsz > 0) out.tls = { memsz, align, firstByteOffset: r.word(at + (is64 ? 16 : 8), is64, 'p_vaddr') % align };
    }
    if (type !== PT_INTERP) continue;
    const offset = r.word(at + (is64 ? 8 : 4), is64, 'p_offset');
    const size = r.word(at + (is64 ? 32 : 16), is64, 'p_filesz');
    const bytes = r.slice(offset, size, 'PT_INTERP');
    const end = bytes.indexOf(0);
    out.interpreter = Buffer.from(bytes.buffer, bytes.byteOffset, end < 0 ? bytes.length : end).toString('latin1');
  }
  // PT_GNU_PROPERTY when present, else the PT_NOTE segments; out-of-file notes are ignored.
  for (const note of [...notes.filter((n) => n.property), ...notes.filter((n) => !n.property)]) {
    if (note.offset + note.size > r.length) continue;
    const found = x86IsaNeededIn(r, is64, note.offset, note.size);
    if (found !== null) {
      out.x86IsaNeeded = found;
      break;
    }
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

/** The relocations of the dynamic relocation sections (those linked to .dynsym: what the loader applies): type and symbol index. */
function* dynamicRelocations(r: ByteReader, is64: boolean, all: Section[], dynsymIndex: number): Generator<{ type: number; index: number }> {
  let seen = 0;
  for (const section of all) {
    if ((section.type !== SHT_RELA && section.type !== SHT_REL) || section.link !== dynsymIndex) continue;
    const { start, end } = contents(r, section, 'relocations');
    const entry = section.type === SHT_RELA ? (is64 ? 24 : 12) : is64 ? 16 : 8;
    for (let at = start; at + entry <= end; at += entry) {
      if (++seen > MAX_ENTRIES) throw new ElfFormatError(`more than ${MAX_ENTRIES} dynamic relocations`);
      const info = r.word(at + (is64 ? 8 : 4), is64, 'r_info');
      yield { type: is64 ? info % 2 ** 32 : info & 0xff, index: is64 ? Math.floor(info / 2 ** 32) : info >>> 8 };
    }
  }
}

const GO_PACKAGE_HASH = 'go.link.pkghashbytes.';
const MAX_GO_HASH_BYTES = 64;

/** The file bytes (hex) behind a virtual address range, through the PT_LOAD segments; null when not in the file. */
function bytesAt(r: ByteReader, segments: ElfFacts['loadSegments'], vaddr: number, size: number): string | null {
  if (size === 0 || size > MAX_GO_HASH_BYTES) return null;
  const segment = segments.find((s) => vaddr >= s.vaddr && vaddr + size <= s.vaddr + s.filesz);
  if (!segment) return null;
  const bytes = r.slice(segment.offset + (vaddr - segment.vaddr), size, 'Go package hash');
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
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
  if (dynamic) {
    const { start, end } = contents(r, dynamic, '.dynamic');
    const strings = stringsOf(dynamic);
    const size = is64 ? 16 : 8;
    for (let at = start; at + size <= end && (at - start) / size < MAX_ENTRIES; at += size) {
      const tag = is64 ? r.i64(at, 'd_tag') : r.u32(at, 'd_tag');
      if (tag === 0) break;
      if (tag === DT_RELR) facts.hasRelr = true;
      if (tag === DT_FLAGS_1 || tag === DT_FLAGS) {
        facts[tag === DT_FLAGS ? 'flags' : 'flags1'] = Number(r.word(at + size / 2, is64, 'd_val'));
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
  // Version index → defined version name (the base version names the file, never a symbol's version).
  const defined = new Map<number, string>();
  if (verdef) {
    const { start, end } = contents(r, verdef, '.gnu.version_d');
    const strings = stringsOf(verdef);
    for (const at of chain(r, start, end, entryCount(verdef), 16, 'verdef')) {
      if ((r.u16(at + 2, 'vd_flags') & VER_FLG_BASE) !== 0) continue;
      const aux = at + r.u32(at + 12, 'vd_aux');
      const name = r.cstring(strings.start, strings.end, r.u32(aux, 'vda_name'), 'verdef name');
      facts.versionDefinitions.push(name);
      defined.set(r.u16(at + 4, 'vd_ndx') & 0x7fff, name);
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
    const versymOf = (i: number) => (versions && versions.start + 2 * i + 2 <= versions.end ? r.u16(versions.start + 2 * i, 'versym') : null);
    const referable = new Map<number, DefinedReference>();
    for (let i = 1; i < count; i++) {
      const at = start + i * size;
      const name = r.cstring(strings.start, strings.end, r.u32(at, 'st_name'), 'symbol name');
      if (!name) continue;
      const info = r.u8(at + (is64 ? 4 : 12), 'st_info');
      const other = r.u8(at + (is64 ? 5 : 13), 'st_other');
      const shndx = r.u16(at + (is64 ? 6 : 14), 'st_shndx');
      const value = r.word(at + (is64 ? 8 : 4), is64, 'st_value');
      const bind = info >> 4;
      const type = info & 0xf;
      if (shndx === SHN_UNDEF) {
        const need = required.get((versymOf(i) ?? 1) & 0x7fff);
        facts.imports.push({ symbol: name, version: need?.version ?? null, weak: bind === STB_WEAK });
        if (need) facts.versionedImports.push({ symbol: name, version: need.version, library: need.library });
        continue;
      }
      const visibility = other & 3;
      if (name.startsWith(GO_PACKAGE_HASH) && bind !== STB_LOCAL && value !== 0 && visibility === STV_DEFAULT) {
        const hash = bytesAt(r, facts.loadSegments, value, r.word(at + (is64 ? 16 : 8), is64, 'st_size'));
        if (hash) facts.goPackageHashes[name.slice(GO_PACKAGE_HASH.length)] = hash;
      }
      const entry = versymOf(i);
      const versionIndex = entry === null ? null : entry & 0x7fff;
      if (bind !== STB_LOCAL) referable.set(i, { symbol: name, version: versionIndex !== null && versionIndex >= 2 ? (defined.get(versionIndex) ?? null) : null, weak: bind === STB_WEAK, visibility });
      facts.definitions.push({
        symbol: name,
        versionIndex,
        version: versionIndex === null ? null : (defined.get(versionIndex) ?? null),
        hidden: entry !== null && (entry & 0x8000) !== 0,
        type,
        binding: bind,
        visibility,
        zeroValue: value === 0,
        absolute: shndx === SHN_ABS,
      });
    }
    facts.staticTlsReferences = staticTlsReferences(r, is64, facts.machine, all, all.indexOf(dynsym), start, end, strings);
    const types = new Set<number>();
    const referenced = new Map<number, DefinedReference>();
    for (const { type, index } of dynamicRelocations(r, is64, all, all.indexOf(dynsym))) {
      types.add(type);
      // R_*_NONE is 0 on every architecture: both loaders skip it before any lookup.
      const reference = type === 0 ? undefined : referable.get(index);
      if (reference) referenced.set(index, reference);
    }
    facts.relocationTypes = [...types].sort((a, b) => a - b);
    facts.definedReferences = [...referenced.values()].sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0));
    facts.imports.sort((a, b) => (a.symbol < b.symbol ? -1 : a.symbol > b.symbol ? 1 : 0));
    facts.versionedImports.sort((a, b) => a.library.localeCompare(b.library) || a.version.localeCompare(b.version) || a.symbol.localeCompare(b.symbol));
  }

  const pclntab = all.find((s) => s.name === '.gopclntab');
  if (pclntab) {
    try {
      facts.goMainFile = goFunctionFile(r.slice(pclntab.offset, pclntab.size, '.gopclntab'), header.littleEndian, 'main.main');
    } catch (err) {
      // An unreadable table costs the Go facts that need it, not the whole file.
      if (!(err instanceof ElfFormatError)) throw err;
    }
  }
  const buildinfo = all.find((s) => s.name === '.go.buildinfo');
  if (buildinfo) {
    const { start, end } = contents(r, buildinfo, '.go.buildinfo');
    facts.goBuildInfo = parseGoBuildInfo(bytes.subarray(start, end));
  }
  return facts;
}
