import { ByteReader } from './byte-reader.js';
import { ElfFormatError } from './elf-error.js';
import { goFunctionFile } from './go-pclntab.js';
import { parseGoBuildInfo } from './go-buildinfo.js';
import type { ElfFacts } from './elf-facts.js';
import { type Section, contents } from './sections.js';

/** Go's marks in an ELF object: package hashes, build info, the main package's file. */

export const GO_PACKAGE_HASH = 'go.link.pkghashbytes.';

const MAX_GO_HASH_BYTES = 64;

/** The file bytes (hex) behind a virtual address range, through the PT_LOAD segments; null when not in the file. */
export function bytesAt(r: ByteReader, segments: ElfFacts['loadSegments'], vaddr: number, size: number): string | null {
  if (size === 0 || size > MAX_GO_HASH_BYTES) return null;
  const segment = segments.find((s) => vaddr >= s.vaddr && vaddr + size <= s.vaddr + s.filesz);
  if (!segment) return null;
  const bytes = r.slice(segment.offset + (vaddr - segment.vaddr), size, 'Go package hash');
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** The Go runtime's own sections: the build info, and the file main.main was compiled from. */
export function readGoSections(r: ByteReader, bytes: Uint8Array, all: Section[], littleEndian: boolean): Pick<ElfFacts, 'goMainFile' | 'goBuildInfo'> {
  const facts: Pick<ElfFacts, 'goMainFile' | 'goBuildInfo'> = { goMainFile: null, goBuildInfo: null };
  const pclntab = all.find((s) => s.name === '.gopclntab');
  if (pclntab) {
    try {
      facts.goMainFile = goFunctionFile(r.slice(pclntab.offset, pclntab.size, '.gopclntab'), littleEndian, 'main.main');
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
