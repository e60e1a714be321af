import { constants, type Stats } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { BuilderError, describeCause } from '../errors.js';

/**
 * Codes: FILE_MISSING, NOT_A_REGULAR_FILE (symlink, FIFO, device, directory, socket),
 * SIZE_MISMATCH (not the locked size), FILE_TOO_LARGE (over a cap), FILE_UNREADABLE.
 */
export class UnsafeFileError extends BuilderError {
  constructor(
    code: 'FILE_MISSING' | 'NOT_A_REGULAR_FILE' | 'SIZE_MISMATCH' | 'FILE_TOO_LARGE' | 'FILE_UNREADABLE',
    readonly path: string,
    message: string,
    fix: string,
  ) {
    super(code, message, { fix });
  }
}

// O_NOFOLLOW: a symlink (to /dev/zero, to a file elsewhere) fails with ELOOP instead of being
// followed. O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer; fstat
// then refuses it before a byte is read.
const SAFE_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

function kindOf(stats: Stats): string {
  if (stats.isFIFO()) return 'a FIFO';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isDirectory()) return 'a directory';
  if (stats.isSocket()) return 'a socket';
  return 'not a regular file';
}

export interface OpenedFile {
  handle: FileHandle;
  stats: Stats;
}

export interface SafeOpenLimits {
  /** The file must have exactly this size (the locked size of an artifact). */
  exactSize?: number;
  /** The file may be at most this large (a lockfile, a key, a signature). */
  maxSize?: number;
  /**
   * Follow a final symlink: only for what the operator configures (a trusted key, a token file),
   * which Kubernetes mounts as links into `..data/`. Never for what a deployment supplies.
   */
  followSymlinks?: boolean;
}

/**
 * Open a file someone else wrote, without trusting it: never follow a final symlink, never
 * block on a FIFO, and check kind and size on the open handle (not the name) before reading.
 */
export async function openRegularFile(path: string, what: string, limits: SafeOpenLimits = {}): Promise<OpenedFile> {
  let handle: FileHandle;
  try {
    handle = await open(path, limits.followSymlinks ? SAFE_FLAGS & ~constants.O_NOFOLLOW : SAFE_FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UnsafeFileError('FILE_MISSING', path, `${what} ${path} does not exist.`, `Deploy ${path}.`);
    if (code === 'ELOOP') {
      throw new UnsafeFileError('NOT_A_REGULAR_FILE', path, `${what} ${path} is a symbolic link; it is not followed.`, 'Deploy the file itself, not a link to it.');
    }
    throw new UnsafeFileError('FILE_UNREADABLE', path, `${what} ${path} cannot be opened: ${describeCause(err)}`, 'Check the file\'s permissions.');
  }
  try {
    const stats = await handle.stat().catch((err: unknown) => {
      throw new UnsafeFileError('FILE_UNREADABLE', path, `${what} ${path} cannot be examined: ${describeCause(err)}`, 'Check the filesystem holding it.');
    });
    if (!stats.isFile()) {
      throw new UnsafeFileError('NOT_A_REGULAR_FILE', path, `${what} ${path} is ${kindOf(stats)}; only regular files are read.`, 'Deploy a regular file.');
    }
    if (limits.exactSize !== undefined && stats.size !== limits.exactSize) {
      throw new UnsafeFileError(
        'SIZE_MISMATCH',
        path,
        `${what} ${path} has ${stats.size} bytes; the lockfile says ${limits.exactSize}.`,
        'Deploy the .so and the lockfile from the same `builder build`.',
      );
    }
    if (limits.maxSize !== undefined && stats.size > limits.maxSize) {
      throw new UnsafeFileError('FILE_TOO_LARGE', path, `${what} ${path} has ${stats.size} bytes, more than the limit of ${limits.maxSize}.`, 'Raise the limit if the file is genuine.');
    }
    return { handle, stats };
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** Read exactly `length` bytes from the start of an open file; fewer (it shrank) is an error. */
export async function readExactly(handle: FileHandle, length: number, path: string): Promise<Buffer> {
  const buffer = Buffer.alloc(length);
  let offset = 0;
  while (offset < length) {
    const { bytesRead } = await handle.read(buffer, offset, length - offset, offset).catch((err: unknown) => {
      throw new UnsafeFileError('FILE_UNREADABLE', path, `${path} cannot be read: ${describeCause(err)}`, 'Check the filesystem holding it.');
    });
    if (bytesRead === 0) {
      throw new UnsafeFileError('SIZE_MISMATCH', path, `${path} shrank while being read (${offset} of ${length} bytes).`, 'Deploy files by writing a temporary name and renaming it.');
    }
    offset += bytesRead;
  }
  return buffer;
}

/** A small file someone else wrote (lockfile, signature, key, token): regular, capped, read once. */
export async function readSmallFile(path: string, what: string, maxSize: number, options: { followSymlinks?: boolean } = {}): Promise<Buffer> {
  const { handle, stats } = await openRegularFile(path, what, { maxSize, ...options });
  try {
    return await readExactly(handle, stats.size, path);
  } finally {
    await handle.close();
  }
}
