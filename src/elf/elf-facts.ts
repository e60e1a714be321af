import type { GoBuildInfo } from './go-buildinfo.js';

/** What the reader says about an ELF object: the facts a loader and a compatibility check need. */

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
