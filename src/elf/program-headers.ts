import { ByteReader } from './byte-reader.js';
import type { ElfFacts } from './elf-facts.js';

/** Program headers: the interpreter, the load segments, TLS, the stack's executability and the x86 ISA level note. */

export const PT_INTERP = 3;

export const PT_GNU_STACK = 0x6474e551;

export const PT_TLS = 7;

export const PF_X = 1;

export const PT_LOAD = 1;

export const PT_DYNAMIC = 2;

const MAX_LISTED_SEGMENTS = 64;

type ProgramHeaderFacts = Pick<ElfFacts, 'interpreter' | 'executableStack' | 'tls' | 'phentsize' | 'loadSegments' | 'hasDynamicSegment' | 'x86IsaNeeded'>;

const PT_NOTE = 4;

const PT_GNU_PROPERTY = 0x6474e553;

const NT_GNU_PROPERTY_TYPE_0 = 5;

export const GNU_PROPERTY_X86_ISA_1_NEEDED = 0xc0008002;

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
export function programHeaders(r: ByteReader, is64: boolean, machine: string): ProgramHeaderFacts {
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
