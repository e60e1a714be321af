import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { FsEntry, RootEntryReader } from '../../src/env/file-source.js';

/** Bytes that start like an x86_64 ELF file (enough for the probe's header read), then `text`. */
export function fakeElf(text: string, machine = 62): Buffer {
  const header = Buffer.alloc(64);
  header.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]);
  header.writeUInt16LE(3, 16);
  header.writeUInt16LE(machine, 18);
  return Buffer.concat([header, Buffer.from(text, 'latin1')]);
}

export type FakeTree = Record<string, string | Buffer | { link: string }>;

export const DEBIAN_12: FakeTree = {
  '/usr/lib/os-release': 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_ID="12"\n',
  '/etc/os-release': { link: '../usr/lib/os-release' },
  '/usr/lib/x86_64-linux-gnu/libc.so.6': fakeElf('GNU C Library (Debian GLIBC 2.36-9+deb12u10) stable release version 2.36.\n'),
  '/lib64/ld-linux-x86-64.so.2': { link: '/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2' },
};

/** An in-memory root filesystem. */
export function memoryRoot(tree: FakeTree): RootEntryReader {
  return {
    async readEntry(path: string): Promise<FsEntry | null> {
      const entry = tree[path];
      if (entry === undefined) return null;
      if (typeof entry === 'object' && !Buffer.isBuffer(entry)) return { type: 'symlink', target: entry.link };
      return { type: 'file', data: Buffer.from(entry) };
    },
  };
}

/** The same tree written to a real directory (symlinks included). */
export async function writeRoot(root: string, tree: FakeTree): Promise<void> {
  for (const [path, entry] of Object.entries(tree)) {
    const full = join(root, path);
    await mkdir(dirname(full), { recursive: true });
    if (typeof entry === 'object' && !Buffer.isBuffer(entry)) await symlink(entry.link, full);
    else await writeFile(full, entry);
  }
}
