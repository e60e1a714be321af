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
