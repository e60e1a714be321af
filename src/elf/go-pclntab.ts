import { ByteReader } from './byte-reader.js';
import { ElfFormatError } from './elf-error.js';

// pcHeader magics: Go 1.18–1.19, and 1.20 on (whose _func gained startLine).
const GO118 = 0xfffffff0;
const GO120 = 0xfffffff1;
const MAX_FUNCS = 10_000_000;

/**
 * The source file of a function, from a Go binary's pclntab (runtime/symtab.go: pcHeader,
 * functab, _func, then the first value of the function's pcfile table indexes its compile
 * unit's file list). Null when the table has another layout or no such function.
 */
export function goFunctionFile(table: Uint8Array, littleEndian: boolean, name: string): string | null {
  const r = new ByteReader(table, littleEndian);
  if (table.length < 8) return null;
  const magic = r.u32(0, 'pclntab magic');
  if (magic !== GO118 && magic !== GO120) return null;
  const ptr = r.u8(7, 'pclntab pointer size');
  if (ptr !== 4 && ptr !== 8) return null;
  const word = (at: number) => r.word(8 + at * ptr, ptr === 8, 'pclntab header');
  const nfunc = word(0);
  if (nfunc > MAX_FUNCS) throw new ElfFormatError(`pclntab lists ${nfunc} functions`);
  const funcnames = word(3);
  const cutab = word(4);
  const filetab = word(5);
  const pctab = word(6);
  const functab = word(7);
  const wanted = Buffer.from(name, 'latin1');
  for (let i = 0; i < nfunc; i++) {
    const func = functab + r.u32(functab + i * 8 + 4, 'functab entry');
    const nameOff = r.u32(func + 4, '_func.nameoff');
    if (!matches(table, funcnames + nameOff, wanted)) continue;
    const pcfile = r.u32(func + 20, '_func.pcfile');
    const cuOffset = r.u32(func + 32, '_func.cuOffset');
    const fileno = firstPcValue(r, pctab + pcfile);
    if (fileno < 0) return null;
    const fileOff = r.u32(cutab + (cuOffset + fileno) * 4, 'cutab entry');
    return r.cstring(filetab, table.length, fileOff, 'file name');
  }
  return null;
}

function matches(table: Uint8Array, at: number, name: Uint8Array): boolean {
  if (at < 0 || at + name.length >= table.length) return false;
  for (let i = 0; i < name.length; i++) if (table[at + i] !== name[i]) return false;
  return table[at + name.length] === 0;
}

/** The first value of a pcvalue table: a zig-zag varint delta from -1. */
function firstPcValue(r: ByteReader, at: number): number {
  let value = 0;
  let shift = 0;
  for (let i = 0; ; i++) {
    if (i > 4) throw new ElfFormatError('pcvalue varint too long');
    const b = r.u8(at + i, 'pcvalue');
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if ((b & 0x80) === 0) break;
  }
  const delta = value % 2 === 1 ? -Math.floor(value / 2) - 1 : value / 2;
  return -1 + delta;
}
