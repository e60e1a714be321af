import { createHash } from 'node:crypto';
import { read, readSync } from 'node:fs';
import { promisify } from 'node:util';

/** The read size for hashing and sealing: large enough that syscalls do not dominate, small enough to keep memory flat. */
export const HASH_CHUNK = 4 * 1024 * 1024;

const readAsync = promisify(read);

/** sha256 (hex) of the first `size` bytes of an open fd, read positionally in bounded chunks. */
export async function hashOpenFile(fd: number, size: number, signal: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  const buffer = Buffer.allocUnsafe(Math.min(HASH_CHUNK, Math.max(size, 1)));
  let offset = 0;
  while (offset < size) {
    signal.throwIfAborted();
    const { bytesRead } = await readAsync(fd, buffer, 0, Math.min(buffer.length, size - offset), offset);
    if (bytesRead === 0) throw new Error(`the copy ended after ${offset} of ${size} bytes`);
    hash.update(buffer.subarray(0, bytesRead));
    offset += bytesRead;
  }
  return hash.digest('hex');
}

// One buffer, reused: on a virtual machine the page faults of a fresh multi-megabyte buffer
// cost more than the copy itself. Only the synchronous loop below uses it, so no two callers
// can interleave on it.
let shared: Buffer | null = null;

/**
 * sha256 of a memory-backed fd (a memfd): its reads never wait for a disk, so a synchronous
 * loop is safe for the event loop and skips the thread pool's round trips.
 */
export function hashMemoryFile(fd: number, size: number): string {
  shared ??= Buffer.allocUnsafe(HASH_CHUNK);
  const hash = createHash('sha256');
  let offset = 0;
  while (offset < size) {
    const bytesRead = readSync(fd, shared, 0, Math.min(shared.length, size - offset), offset);
    if (bytesRead === 0) throw new Error(`the copy ended after ${offset} of ${size} bytes`);
    hash.update(shared.subarray(0, bytesRead));
    offset += bytesRead;
  }
  return hash.digest('hex');
}
