/** One entry of a root filesystem, as read without following a final symlink. */
export type FsEntry = { type: 'file'; data: Buffer; mode?: number } | { type: 'symlink'; target: string } | { type: 'other'; directory: boolean; mode?: number };

/**
 * Reads single entries of a root filesystem: an image (through a created container) or the
 * live system. Implementations return null for a missing path.
 */
export interface RootEntryReader {
  readEntry(path: string): Promise<FsEntry | null>;
}
