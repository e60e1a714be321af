import type { FsEntry, RootEntryReader } from '../docker/fs-entry.js';

export type { FsEntry, RootEntryReader } from '../docker/fs-entry.js';

/** Reads a file's bytes, following symlinks (relative or absolute) within the same root. */
export interface RootFileSource {
  readFile(path: string): Promise<Buffer | null>;
  /**
   * The entry a path leads to after its symlinks: a file, or something else (a directory, a
   * FIFO) where a loader would stop rather than look further. Optional: fakes may omit it.
   */
  readFinalEntry?(path: string): Promise<Exclude<FsEntry, { type: 'symlink' }> | null>;
  /** Where a path leads after its final symlinks (itself when it is none), or null when the chain breaks. Optional, as above. */
  finalPath?(path: string): Promise<string | null>;
}

const MAX_LINKS = 16;

function resolveLink(from: string, target: string): string {
  const base = target.startsWith('/') ? [] : from.split('/').slice(0, -1);
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') base.pop();
    else base.push(part);
  }
  return '/' + base.filter(Boolean).join('/');
}

/**
 * Follow symlinks ourselves rather than trusting the reader to: an image's absolute link
 * (`/lib64/ld-linux-x86-64.so.2 -> /lib/x86_64-linux-gnu/…`) must resolve inside the image,
 * never on the machine running this tool.
 */
export function followingSymlinks(reader: RootEntryReader): RootFileSource {
  const follow = async (path: string): Promise<{ path: string; entry: Exclude<FsEntry, { type: 'symlink' }> } | null> => {
    let current = path;
    for (let hops = 0; hops <= MAX_LINKS; hops++) {
      const entry = await reader.readEntry(current);
      if (entry === null) return null;
      if (entry.type !== 'symlink') return { path: current, entry };
      current = resolveLink(current, entry.target);
    }
    return null;
  };
  const readFinalEntry = async (path: string) => (await follow(path))?.entry ?? null;
  return {
    readFinalEntry,
    finalPath: async (path: string) => (await follow(path))?.path ?? null,
    async readFile(path: string): Promise<Buffer | null> {
      const entry = await readFinalEntry(path);
      return entry?.type === 'file' ? entry.data : null;
    },
  };
}
