/** The ELF identification and machine, read from the first bytes of a file. */
export interface ElfHeader {
  class: 32 | 64;
  littleEndian: boolean;
  machine: string;
}

// e_machine values (ELF gABI) for the architectures a plugin host is likely to run on.
const MACHINES: Record<number, string> = {
  3: 'i386',
  40: 'arm',
  62: 'x86_64',
  183: 'aarch64',
  243: 'riscv64',
  21: 'ppc64',
  22: 's390x',
};

export function readElfHeader(bytes: Uint8Array): ElfHeader | null {
  if (bytes.length < 20 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) return null;
  const cls = bytes[4] === 1 ? 32 : bytes[4] === 2 ? 64 : null;
  const littleEndian = bytes[5] === 1 ? true : bytes[5] === 2 ? false : null;
  if (cls === null || littleEndian === null) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const machineNumber = view.getUint16(18, littleEndian);
  return { class: cls, littleEndian, machine: MACHINES[machineNumber] ?? `em-${machineNumber}` };
}
