/** Flip bits of one byte in place (tests that tamper with an artifact). */
export function flipByte(bytes: Uint8Array, index: number, mask = 0x01): void {
  const i = index < 0 ? bytes.length + index : index;
  const value = bytes[i];
  if (value === undefined) throw new RangeError(`no byte ${index} in ${bytes.length}`);
  bytes[i] = value ^ mask;
}
