import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, mkdtemp, open, rename, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeCause } from '../errors.js';
import { hashOpenFile } from '../util/hash-file.js';
import { HASH_CHUNK, SealError, type SealedCopy, type Sealer } from './sealer.js';

/**
 * Fallback where memfd_create is unavailable: a 0700 directory of ours, a new random name per
 * copy (never reused, so a half-written file can never be mistaken for a finished one), fsync,
 * rename, and the sha256 read back from the renamed file before it is loaded.
 */
export class FileSealer implements Sealer {
  readonly kind = 'file';
  private dir: Promise<string> | null = null;

  constructor(private readonly parent: string = tmpdir()) {}

  private directory(): Promise<string> {
    // Made on first use: a host that never loads anything leaves nothing behind.
    this.dir ??= mkdtemp(join(this.parent, 'builder-plugins-'));
    return this.dir;
  }

  async seal(source: FileHandle, size: number, label: string, signal: AbortSignal): Promise<SealedCopy> {
    let dir: string;
    try {
      dir = await this.directory();
    } catch (err) {
      this.dir = null;
      throw new SealError(label, `cannot create a private directory in ${this.parent}: ${describeCause(err)}`, 'Make TMPDIR a writable directory.', err);
    }
    const name = `${label}-${randomBytes(8).toString('hex')}`;
    const partial = join(dir, `.${name}.partial`);
    const final = join(dir, `${name}.so`);
    try {
      const out = await open(partial, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o500);
      try {
        await copyExactly(source, out, size, signal);
        await out.sync();
      } finally {
        await out.close();
      }
      await rename(partial, final);
    } catch (err) {
      await unlink(partial).catch(() => {});
      await unlink(final).catch(() => {});
      if (signal.aborted) throw err;
      const full = (err as NodeJS.ErrnoException).code === 'ENOSPC';
      throw new SealError(
        label,
        `writing ${partial} failed: ${describeCause(err)}`,
        full ? `The filesystem of ${this.parent} is full: free space there (or point TMPDIR elsewhere) and reload.` : `Check that ${this.parent} is writable.`,
        err,
      );
    }
    return {
      path: final,
      sha256: async (hashSignal) => {
        const handle = await open(final, constants.O_RDONLY | constants.O_NOFOLLOW);
        try {
          return await hashOpenFile(handle.fd, size, hashSignal);
        } finally {
          await handle.close();
        }
      },
      release: () => unlink(final).catch(() => {}),
    };
  }

  async close(): Promise<void> {
    const dir = this.dir;
    this.dir = null;
    if (dir) await rm(await dir.catch(() => ''), { recursive: true, force: true }).catch(() => {});
  }
}

async function copyExactly(source: FileHandle, out: FileHandle, size: number, signal: AbortSignal): Promise<void> {
  const buffer = Buffer.alloc(Math.min(HASH_CHUNK, Math.max(size, 1)));
  let offset = 0;
  while (offset < size) {
    signal.throwIfAborted();
    const { bytesRead } = await source.read(buffer, 0, Math.min(buffer.length, size - offset), offset);
    if (bytesRead === 0) throw new Error(`the source shrank to ${offset} of ${size} bytes while being copied`);
    let written = 0;
    while (written < bytesRead) written += (await out.write(buffer, written, bytesRead - written, offset + written)).bytesWritten;
    offset += bytesRead;
  }
}
