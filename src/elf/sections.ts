import { ByteReader } from './byte-reader.js';
import { ElfFormatError } from './elf-error.js';

/** Section headers, their contents, and the record chains and relocation tables inside them. */

// Caps that keep hostile input from turning into huge loops or allocations.
const MAX_SECTIONS = 65_535;

export const MAX_ENTRIES = 1_000_000;

export const SHT_DYNAMIC = 6;

export const SHT_DYNSYM = 11;

export const SHT_GNU_VERDEF = 0x6ffffffd;

export const SHT_GNU_VERNEED = 0x6ffffffe;

export const SHT_GNU_VERSYM = 0x6fffffff;

const SHT_RELA = 4;

const SHT_REL = 9;

export interface Section {
  name: string;
  type: number;
  offset: number;
  size: number;
  link: number;
  info: number;
  entsize: number;
}

export function sections(r: ByteReader, is64: boolean): Section[] {
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

export function contents(r: ByteReader, s: Section, what: string): { start: number; end: number } {
  if (s.type === 8 /* NOBITS */) return { start: 0, end: 0 };
  r.slice(s.offset, s.size, what);
  return { start: s.offset, end: s.offset + s.size };
}

/** sh_info holds a version section's entry count; an empty section has none. */
export function entryCount(s: Section): number {
  if (s.size === 0) return 0;
  return s.info > 0 ? s.info : MAX_ENTRIES;
}

/** A chain of fixed-size records linked by relative `next` offsets (verneed, verdef). */
export function* chain(r: ByteReader, start: number, end: number, count: number, nextAt: number, what: string): Generator<number> {
  let at = start;
  for (let i = 0; i < Math.min(count, MAX_ENTRIES); i++) {
    if (at < start || at >= end) throw new ElfFormatError(`${what} entry ${i} at offset ${at} is outside its section`);
    yield at;
    const next = r.u32(at + nextAt, `${what} next`);
    if (next === 0) return;
    at += next;
  }
}

/** The relocations of the dynamic relocation sections (those linked to .dynsym: what the loader applies): type and symbol index. */
export function* dynamicRelocations(r: ByteReader, is64: boolean, all: Section[], dynsymIndex: number): Generator<{ type: number; index: number }> {
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
