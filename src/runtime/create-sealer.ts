import { tmpdir } from 'node:os';
import { FileSealer } from './file-sealer.js';
import { createMemfdSyscalls } from './koffi-native.js';
import { MemfdSealer } from './memfd-sealer.js';
import type { Sealer } from './sealer.js';

export type SealingChoice = 'auto' | 'memfd' | 'file';

/**
 * memfd when the kernel and libc offer it (no copy on disk, sealed against every writer);
 * private files otherwise (`auto`), or when asked (`file`). `memfd` insists.
 */
export async function createSealer(choice: SealingChoice = 'auto', tempDir = tmpdir()): Promise<Sealer> {
  if (choice === 'file') return new FileSealer(tempDir);
  const syscalls = await createMemfdSyscalls();
  if (syscalls) return new MemfdSealer(syscalls);
  if (choice === 'memfd') throw new Error('memfd_create is not available in this process (old libc or kernel, or a seccomp filter)');
  return new FileSealer(tempDir);
}
