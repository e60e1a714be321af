import { createHash } from 'node:crypto';
import { read } from 'node:fs';
import { promisify } from 'node:util';
import { HASH_CHUNK } from './sealer.js';

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
