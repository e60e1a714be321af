import { closeSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { describeCause } from '../errors.js';
import { hashMemoryFile } from '../util/hash-file.js';
import { SealError, type SealedCopy, type Sealer } from './sealer.js';

/** The few libc calls a sealed in-memory copy needs (bound through koffi in production). */
export interface MemfdSyscalls {
  /** memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING) → fd; throws with errno's name. */
  memfdCreate(name: string): number;
  /** sendfile(out, in, NULL, count) → bytes copied from in's file position; throws on error. */
  sendfile(outFd: number, inFd: number, count: number): number;
  /** fcntl(fd, F_ADD_SEALS, seals); throws on error. */
  addSeals(fd: number, seals: number): void;
  /** fcntl(fd, F_GET_SEALS). */
  getSeals(fd: number): number;
}

export const F_SEAL_SEAL = 0x1;
export const F_SEAL_SHRINK = 0x2;
export const F_SEAL_GROW = 0x4;
export const F_SEAL_WRITE = 0x8;
export const ALL_SEALS = F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL;
/**
 * Copied per sendfile call (a memory copy of about 15 ms here); the event loop gets a turn
 * between calls, so a 1 GiB plugin does not stall the service for its whole copy.
 */
const COPY_CHUNK = 64 * 1024 * 1024;

/**
 * Sealed in-memory copies: memfd_create, an in-kernel copy (sendfile), then seals that forbid
 * any further write, growth or shrink — not even by us — before the bytes are hashed. The
 * loader opens `/proc/self/fd/N`. Nothing is written to disk.
 */
export class MemfdSealer implements Sealer {
  readonly kind = 'memfd';

  constructor(private readonly sys: MemfdSyscalls) {}

  async seal(source: FileHandle, size: number, label: string, signal: AbortSignal): Promise<SealedCopy> {
    let fd: number;
    try {
      fd = this.sys.memfdCreate(`builder-plugin:${label}`);
    } catch (err) {
      throw new SealError(label, `memfd_create failed: ${describeCause(err)}`, 'The host is out of memory or file descriptors.', err);
    }
    try {
      let copied = 0;
      while (copied < size) {
        signal.throwIfAborted();
        // sendfile reads from the source's file position; the handle is fresh (position 0)
        // and every other read of it is positional, so the position is ours.
        const n = this.sys.sendfile(fd, source.fd, Math.min(COPY_CHUNK, size - copied));
        if (n === 0) throw new Error(`the deployed file shrank to ${copied} of ${size} bytes while being copied`);
        copied += n;
        if (copied < size) await yieldToEventLoop();
      }
      this.sys.addSeals(fd, ALL_SEALS);
      const seals = this.sys.getSeals(fd);
      if ((seals & ALL_SEALS) !== ALL_SEALS) throw new Error(`the seals did not hold (F_GET_SEALS = ${seals})`);
    } catch (err) {
      closeSync(fd);
      if (signal.aborted) throw err;
      throw new SealError(label, describeCause(err), 'Deploy files by writing a temporary name and renaming it; check the host\'s memory limit.', err);
    }
    let released = false;
    return {
      path: `/proc/self/fd/${fd}`,
      sha256: async (hashSignal) => {
        hashSignal.throwIfAborted();
        return hashMemoryFile(fd, size);
      },
      release: async () => {
        if (!released) closeSync(fd);
        released = true;
      },
    };
  }

  async close(): Promise<void> {
    // Loaded copies stay open for the life of the process (see SealedCopy.release).
  }
}
