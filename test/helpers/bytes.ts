/** Flip bits of one byte in place (tests that tamper with an artifact). */
export function flipByte(bytes: Uint8Array, index: number, mask = 0x01): void {
  const i = index < 0 ? bytes.length + index : index;
  const value = bytes[i];
  if (value === undefined) throw new RangeError(`no byte ${index} in ${bytes.length}`);
  bytes[i] = value ^ mask;
}

/** The SysV ELF hash (a version need's vna_hash). */
export function elfHash(name: string): number {
  let h = 0;
  for (const c of Buffer.from(name, 'latin1')) {
    h = ((h << 4) + c) >>> 0;
    const g = h & 0xf0000000;
    if (g !== 0) h ^= g >>> 24;
    h = (h & ~g) >>> 0;
  }
  return h;
}

/**
 * Rename a version an object needs (its name in .dynstr and its hash in vna_hash), in place:
 * `to` must not be longer than `from`.
 */
export function renameVersionNeed(bytes: Buffer, from: string, to: string): void {
  const name = bytes.indexOf(`${from}\0`, 0, 'latin1');
  const hash = Buffer.alloc(4);
  hash.writeUInt32LE(elfHash(from));
  const hashAt = bytes.indexOf(hash);
  if (name < 0 || hashAt < 0 || to.length > from.length) throw new Error(`no version need ${from} to rename`);
  bytes.write(to.padEnd(from.length + 1, '\0'), name, 'latin1');
  bytes.writeUInt32LE(elfHash(to), hashAt);
}

/** Each entry of every section of `type` (ELF64 little-endian), with the offset of the string table it links to. */
function* sectionEntries(bytes: Buffer, type: number, entrySize: number): Generator<{ at: number; strings: number }> {
  const shoff = Number(bytes.readBigUInt64LE(40));
  const section = (i: number) => shoff + 64 * i;
  for (let i = 0; i < bytes.readUInt16LE(60); i++) {
    if (bytes.readUInt32LE(section(i) + 4) !== type) continue;
    const start = Number(bytes.readBigUInt64LE(section(i) + 24));
    const size = Number(bytes.readBigUInt64LE(section(i) + 32));
    const strings = Number(bytes.readBigUInt64LE(section(bytes.readUInt32LE(section(i) + 40)) + 24));
    for (let at = start; at < start + size; at += entrySize) yield { at, strings };
  }
}

const stringAt = (bytes: Buffer, offset: number) => bytes.toString('latin1', offset, bytes.indexOf(0, offset));

/** Give the DT_NEEDED entry naming `library` another tag (ELF64 little-endian, in place). */
export function retagNeeded(bytes: Buffer, library: string, tag: number): void {
  for (const { at, strings } of sectionEntries(bytes, 6 /* SHT_DYNAMIC */, 16)) {
    if (bytes.readBigInt64LE(at) === 1n && stringAt(bytes, strings + Number(bytes.readBigUInt64LE(at + 8))) === library) {
      bytes.writeBigInt64LE(BigInt(tag), at);
      return;
    }
  }
  throw new Error(`no DT_NEEDED ${library}`);
}

/** The offset of `symbol`'s .dynsym entry (ELF64 little-endian). */
function dynamicSymbolEntry(bytes: Buffer, symbol: string): number {
  for (const { at, strings } of sectionEntries(bytes, 11 /* SHT_DYNSYM */, 24)) {
    if (stringAt(bytes, strings + bytes.readUInt32LE(at)) === symbol) return at;
  }
  throw new Error(`no dynamic symbol ${symbol}`);
}

/** Rewrite a .dynsym entry's st_info and/or st_other (ELF64 little-endian, in place). */
export function patchDynamicSymbol(bytes: Buffer, symbol: string, edit: { info?: number; other?: number }): void {
  const at = dynamicSymbolEntry(bytes, symbol);
  if (edit.info !== undefined) bytes[at + 4] = edit.info;
  if (edit.other !== undefined) bytes[at + 5] = edit.other;
}

/** Rewrite a .dynsym entry's st_value (ELF64 little-endian, in place). */
export function patchDynamicSymbolValue(bytes: Buffer, symbol: string, value: bigint): void {
  bytes.writeBigUInt64LE(value, dynamicSymbolEntry(bytes, symbol) + 8);
}
