import type { ByteReader } from './byte-reader.js';
import type { ElfFacts } from './elf-facts.js';
import { contents, MAX_ENTRIES, type Section } from './sections.js';

const DT_NEEDED = 1;
const DT_SONAME = 14;
const DT_RPATH = 15;
const DT_RUNPATH = 29;
const DT_FLAGS = 30;
const DT_RELR = 36;
const DT_FLAGS_1 = 0x6ffffffb;

export type DynamicFacts = Pick<ElfFacts, 'needed' | 'soname' | 'rpath' | 'runpath' | 'flags' | 'flags1' | 'hasRelr'>;

/** The dynamic section: what the object needs (DT_NEEDED), its name, search paths and flags. */
export function readDynamicSection(r: ByteReader, is64: boolean, dynamic: Section | undefined, strings: () => { start: number; end: number }): DynamicFacts {
  const facts: DynamicFacts = { needed: [], soname: null, rpath: null, runpath: null, flags: 0, flags1: 0, hasRelr: false };
  if (!dynamic) return facts;
  const { start, end } = contents(r, dynamic, '.dynamic');
  const table = strings();
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
    const name = r.cstring(table.start, table.end, r.word(at + size / 2, is64, 'd_val'), 'dynamic string');
    if (tag === DT_NEEDED) facts.needed.push(name);
    else if (tag === DT_SONAME) facts.soname = name;
    else if (tag === DT_RPATH) facts.rpath = name;
    else facts.runpath = name;
  }
  return facts;
}
