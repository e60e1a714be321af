/** Builds small, valid ELF64 little-endian shared objects for tests of the reader. */

export interface BuildElfOptions {
  needed?: string[];
  soname?: string;
  imports?: Array<{ symbol: string; version: string; library: string }>;
  goBuildInfo?: Uint8Array;
  /** Make the verneed chain point outside its section. */
  badVerneedNext?: boolean;
}

class Strings {
  private readonly parts: Buffer[] = [Buffer.from([0])];
  private size = 1;
  private readonly seen = new Map<string, number>();
  add(text: string): number {
    const known = this.seen.get(text);
    if (known !== undefined) return known;
    const at = this.size;
    const bytes = Buffer.from(text + '\0', 'latin1');
    this.parts.push(bytes);
    this.size += bytes.length;
    this.seen.set(text, at);
    return at;
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export function buildElf(options: BuildElfOptions): Buffer {
  const imports = options.imports ?? [];
  const dynstr = new Strings();
  const needed = (options.needed ?? []).map((n) => dynstr.add(n));
  const soname = options.soname ? dynstr.add(options.soname) : null;

  // Version indices from 2, per (library, version) in order of first appearance.
  const libraries = new Map<string, Map<string, number>>();
  let nextIndex = 2;
  for (const i of imports) {
    const versions = libraries.get(i.library) ?? new Map<string, number>();
    if (!versions.has(i.version)) versions.set(i.version, nextIndex++);
    libraries.set(i.library, versions);
  }

  const dynsym = Buffer.alloc(24 * (imports.length + 1));
  const versym = Buffer.alloc(2 * (imports.length + 1));
  imports.forEach((i, n) => {
    const at = 24 * (n + 1);
    dynsym.writeUInt32LE(dynstr.add(i.symbol), at);
    dynsym[at + 4] = 0x12; // GLOBAL FUNC, undefined (shndx 0)
    versym.writeUInt16LE(libraries.get(i.library)!.get(i.version)!, 2 * (n + 1));
  });

  const verneedParts: Buffer[] = [];
  [...libraries.entries()].forEach(([library, versions], k, all) => {
    const head = Buffer.alloc(16);
    head.writeUInt16LE(1, 0);
    head.writeUInt16LE(versions.size, 2);
    head.writeUInt32LE(dynstr.add(library), 4);
    head.writeUInt32LE(16, 8);
    const last = k === all.length - 1;
    head.writeUInt32LE(last ? (options.badVerneedNext ? 0x10000 : 0) : 16 + 16 * versions.size, 12);
    verneedParts.push(head);
    [...versions.entries()].forEach(([version, index], j) => {
      const aux = Buffer.alloc(16);
      aux.writeUInt16LE(index, 6);
      aux.writeUInt32LE(dynstr.add(version), 8);
      aux.writeUInt32LE(j === versions.size - 1 ? 0 : 16, 12);
      verneedParts.push(aux);
    });
  });
  const verneed = Buffer.concat(verneedParts);

  const dynEntries: Array<[number, number]> = [...needed.map((n): [number, number] => [1, n]), ...(soname !== null ? [[14, soname] as [number, number]] : []), [0, 0]];
  const dynamic = Buffer.alloc(16 * dynEntries.length);
  dynEntries.forEach(([tag, value], n) => {
    dynamic.writeBigInt64LE(BigInt(tag), 16 * n);
    dynamic.writeBigUInt64LE(BigInt(value), 16 * n + 8);
  });

  const shstr = new Strings();
  const sections: Array<{ name: string; type: number; data: Buffer; link: number; info: number; entsize: number }> = [
    { name: '.shstrtab', type: 3, data: Buffer.alloc(0), link: 0, info: 0, entsize: 0 },
    { name: '.dynstr', type: 3, data: dynstr.bytes(), link: 0, info: 0, entsize: 0 },
    { name: '.dynsym', type: 11, data: dynsym, link: 2, info: 1, entsize: 24 },
    { name: '.gnu.version', type: 0x6fffffff, data: versym, link: 3, info: 0, entsize: 2 },
    { name: '.gnu.version_r', type: 0x6ffffffe, data: verneed, link: 2, info: options.badVerneedNext ? 1000 : libraries.size, entsize: 0 },
    { name: '.dynamic', type: 6, data: dynamic, link: 2, info: 0, entsize: 16 },
    ...(options.goBuildInfo ? [{ name: '.go.buildinfo', type: 1, data: Buffer.from(options.goBuildInfo), link: 0, info: 0, entsize: 0 }] : []),
  ];
  const names = sections.map((s) => shstr.add(s.name));
  sections[0]!.data = shstr.bytes();

  const header = Buffer.alloc(64);
  header.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  header.writeUInt16LE(3, 16); // ET_DYN
  header.writeUInt16LE(62, 18); // x86_64
  header.writeUInt32LE(1, 20);
  header.writeUInt16LE(64, 52);
  header.writeUInt16LE(56, 54);
  header.writeUInt16LE(64, 58);
  header.writeUInt16LE(sections.length + 1, 60);
  header.writeUInt16LE(1, 62);

  // Program headers as a linker writes them: PT_LOAD from offset 0, PT_DYNAMIC, PT_GNU_STACK (RW).
  const PHNUM = 3;
  const phdrs = Buffer.alloc(56 * PHNUM);
  header.writeBigUInt64LE(64n, 32); // e_phoff
  header.writeUInt16LE(PHNUM, 56);
  const body: Buffer[] = [phdrs];
  let offset = 64 + phdrs.length;
  const offsets = sections.map((s) => {
    const at = offset;
    body.push(s.data);
    offset += s.data.length;
    return at;
  });
  const table = Buffer.alloc(64 * (sections.length + 1));
  sections.forEach((s, n) => {
    const at = 64 * (n + 1);
    table.writeUInt32LE(names[n]!, at);
    table.writeUInt32LE(s.type, at + 4);
    table.writeBigUInt64LE(BigInt(offsets[n]!), at + 24);
    table.writeBigUInt64LE(BigInt(s.data.length), at + 32);
    table.writeUInt32LE(s.link, at + 40);
    table.writeUInt32LE(s.info, at + 44);
    table.writeBigUInt64LE(BigInt(s.entsize), at + 56);
  });
  header.writeBigUInt64LE(BigInt(offset), 40); // e_shoff
  const dynamicAt = sections.findIndex((s) => s.type === 6);
  const segment = (n: number, type: number, flags: number, at: number, size: number) => {
    phdrs.writeUInt32LE(type, 56 * n);
    phdrs.writeUInt32LE(flags, 56 * n + 4);
    phdrs.writeBigUInt64LE(BigInt(at), 56 * n + 8);
    phdrs.writeBigUInt64LE(BigInt(at), 56 * n + 16);
    phdrs.writeBigUInt64LE(BigInt(size), 56 * n + 32);
    phdrs.writeBigUInt64LE(BigInt(size), 56 * n + 40);
  };
  segment(0, 1, 5, 0, offset);
  segment(1, 2, 6, offsets[dynamicAt]!, sections[dynamicAt]!.data.length);
  segment(2, 0x6474e551, 6, 0, 0);
  return Buffer.concat([header, ...body, table]);
}

function uvarint(n: number): Buffer {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return Buffer.from(out);
}

/** A Go ≥ 1.18 `.go.buildinfo` section with inline strings and Go's sentinels. */
export function goBuildInfoSection(goVersion: string, modinfo: string): Buffer {
  const start = Buffer.from('3077af0c9274080241e1c107e6d618e6', 'hex');
  const end = Buffer.from('f932433186182072008242104116d8f2', 'hex');
  const head = Buffer.alloc(32);
  head.write('\xff Go buildinf:', 0, 'latin1');
  head[14] = 8;
  head[15] = 2;
  const version = Buffer.from(goVersion, 'utf8');
  const mod = Buffer.concat([start, Buffer.from(modinfo + '\n', 'utf8'), end]);
  return Buffer.concat([head, uvarint(version.length), version, uvarint(mod.length), mod]);
}
