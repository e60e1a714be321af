import type { FileHandle } from 'node:fs/promises';
import { BuilderError } from '../errors.js';

/**
 * A private, immutable copy of a plugin's bytes that the loader opens by path. The runtime
 * hashes the copy (not the deployed file) and loads the copy, so what is loaded is what was
 * hashed, whatever happens to the deployed file meanwhile.
 */
export interface SealedCopy {
  /** What the loader opens: `/proc/self/fd/N` (memfd) or a file in a private directory. */
  readonly path: string;
  /** sha256 (hex) of the sealed bytes, read back from the copy itself. */
  sha256(signal: AbortSignal): Promise<string>;
  /**
   * Drop a copy that was never successfully loaded. A loaded copy is never released: glibc
   * recognises an already-loaded object by path and by (st_dev, st_ino), so a freed fd number
   * or inode reused by a later copy would make dlopen hand back the old library.
   */
  release(): Promise<void>;
}

export interface Sealer {
  readonly kind: 'memfd' | 'file';
  /** Copy exactly `size` bytes of `source` into a sealed copy. */
  seal(source: FileHandle, size: number, label: string, signal: AbortSignal): Promise<SealedCopy>;
  /** Remove what only served copies that were never loaded (the file sealer's directory). */
  close(): Promise<void>;
}

export class SealError extends BuilderError {
  constructor(label: string, message: string, fix: string, cause?: unknown) {
    super('SEAL_FAILED', `Plugin "${label}": cannot make the private copy to load: ${message}`, { fix, cause });
  }
}

export { HASH_CHUNK } from '../util/hash-file.js';
