import { ElfFormatError } from './elf-error.js';

/** Bounds-checked little/big-endian reads over a byte array; every miss is an ElfFormatError. */
export class ByteReader {
  private readonly view: DataView;

  constructor(
    readonly bytes: Uint8Array,
    readonly littleEndian: boolean,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get length(): number {
    return this.bytes.length;
  }

  private check(offset: number, size: number, what: string): void {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + size > this.bytes.length) {
      throw new ElfFormatError(`${what} at offset ${offset} is outside the file (${this.bytes.length} bytes)`);
    }
  }

  u8(offset: number, what = 'byte'): number {
    this.check(offset, 1, what);
    return this.view.getUint8(offset);
  }

  u16(offset: number, what = 'u16'): number {
    this.check(offset, 2, what);
    return this.view.getUint16(offset, this.littleEndian);
  }

  u32(offset: number, what = 'u32'): number {
    this.check(offset, 4, what);
    return this.view.getUint32(offset, this.littleEndian);
  }

  /** A 64-bit value that must fit a JS number exactly (offsets and sizes do). */
  u64(offset: number, what = 'u64'): number {
    this.check(offset, 8, what);
    const value = this.view.getBigUint64(offset, this.littleEndian);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new ElfFormatError(`${what} at offset ${offset} is too large (${value})`);
    return Number(value);
  }

  /** A signed 64-bit tag (d_tag) clamped to a number; only small tags matter. */
  i64(offset: number, what = 'i64'): number {
    this.check(offset, 8, what);
    const value = this.view.getBigInt64(offset, this.littleEndian);
    return value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER) ? -1 : Number(value);
  }

  word(offset: number, is64: boolean, what = 'word'): number {
    return is64 ? this.u64(offset, what) : this.u32(offset, what);
  }

  /** A range that must lie inside the file. */
  slice(offset: number, size: number, what: string): Uint8Array {
    this.check(offset, size, what);
    return this.bytes.subarray(offset, offset + size);
  }

  /** NUL-terminated string starting at `offset` within [start, end). */
  cstring(start: number, end: number, offset: number, what = 'string'): string {
    const at = start + offset;
    if (!Number.isSafeInteger(at) || offset < 0 || at >= end || end > this.bytes.length) {
      throw new ElfFormatError(`${what} offset ${offset} is outside its string table`);
    }
    const stop = this.bytes.indexOf(0, at);
    if (stop < 0 || stop >= end) throw new ElfFormatError(`${what} at offset ${offset} is not NUL-terminated`);
    return Buffer.from(this.bytes.buffer, this.bytes.byteOffset + at, stop - at).toString('latin1');
  }
}
