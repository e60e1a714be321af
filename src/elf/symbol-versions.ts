import type { ByteReader } from './byte-reader.js';
import type { ElfFacts } from './elf-facts.js';
import { chain, contents, entryCount, type Section } from './sections.js';

const VER_FLG_BASE = 1;

export interface SymbolVersions {
  /** Version index → the version name and the library it is required from (.gnu.version_r). */
  required: Map<number, { version: string; library: string }>;
  /** Version index → a version this object defines (.gnu.version_d; the base version names the file, never a symbol's version). */
  defined: Map<number, string>;
  facts: Pick<ElfFacts, 'versionNeeds' | 'versionDefinitions'>;
}

type StringsOf = (s: Section) => { start: number; end: number };

/** The versions an object needs (verneed) and defines (verdef), by the index .gnu.version gives each symbol. */
export function readSymbolVersions(r: ByteReader, verneed: Section | undefined, verdef: Section | undefined, stringsOf: StringsOf): SymbolVersions {
  const versions: SymbolVersions = { required: new Map(), defined: new Map(), facts: { versionNeeds: [], versionDefinitions: [] } };
  if (verneed) {
    const { start, end } = contents(r, verneed, '.gnu.version_r');
    const strings = stringsOf(verneed);
    for (const at of chain(r, start, end, entryCount(verneed), 12, 'verneed')) {
      const library = r.cstring(strings.start, strings.end, r.u32(at + 4, 'vn_file'), 'verneed file');
      const names: string[] = [];
      const count = r.u16(at + 2, 'vn_cnt');
      for (const aux of chain(r, at + r.u32(at + 8, 'vn_aux'), end, count, 12, 'vernaux')) {
        const version = r.cstring(strings.start, strings.end, r.u32(aux + 8, 'vna_name'), 'vernaux name');
        names.push(version);
        versions.required.set(r.u16(aux + 6, 'vna_other') & 0x7fff, { version, library });
      }
      versions.facts.versionNeeds.push({ library, versions: names });
    }
  }
  if (verdef) {
    const { start, end } = contents(r, verdef, '.gnu.version_d');
    const strings = stringsOf(verdef);
    for (const at of chain(r, start, end, entryCount(verdef), 16, 'verdef')) {
      if ((r.u16(at + 2, 'vd_flags') & VER_FLG_BASE) !== 0) continue;
      const aux = at + r.u32(at + 12, 'vd_aux');
      const name = r.cstring(strings.start, strings.end, r.u32(aux, 'vda_name'), 'verdef name');
      versions.facts.versionDefinitions.push(name);
      versions.defined.set(r.u16(at + 4, 'vd_ndx') & 0x7fff, name);
    }
  }
  return versions;
}
