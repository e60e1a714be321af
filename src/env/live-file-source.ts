import { lstat, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { FsEntry, RootEntryReader } from './file-source.js';

/** Reads entries of the running system (or of a directory treated as a root filesystem). */
export class LiveEntryReader implements RootEntryReader {
  constructor(private readonly root: string = '/') {}

  async readEntry(path: string): Promise<FsEntry | null> {
    const full = join(this.root, path);
    try {
      const info = await lstat(full);
      if (info.isSymbolicLink()) return { type: 'symlink', target: await readlink(full) };
      if (info.isFile()) return { type: 'file', data: await readFile(full) };
      return { type: 'other', directory: info.isDirectory() };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      throw err;
    }
  }
}
