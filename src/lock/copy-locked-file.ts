import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { BuilderError, HashMismatchError } from '../errors.js';
import type { LockedPlugin } from './lockfile.js';
import { hashOpenFile } from '../util/hash-file.js';
import { openRegularFile } from '../util/safe-file.js';

/**
 * Copy a locked artifact to a new file and hash the copy, not the original: what lands in the
 * target is what was checked, whatever happens to the source meanwhile. The source must be a
 * regular file (no link, FIFO or device) of exactly the locked size; the target must not exist.
 */
export async function copyLockedFile(source: string, target: string, name: string, entry: Pick<LockedPlugin, 'file' | 'size' | 'sha256'>): Promise<void> {
  const { handle } = await openRegularFile(source, `Plugin "${name}":`, { exactSize: entry.size });
  try {
    const out = await open(target, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
    try {
      for await (const chunk of handle.createReadStream({ autoClose: false })) await out.write(chunk as Buffer);
    } finally {
      await out.close();
    }
  } finally {
    await handle.close();
  }
  const copy = await open(target, 'r');
  try {
    const { size } = await copy.stat();
    if (size !== entry.size) {
      throw new BuilderError('SIZE_MISMATCH', `Plugin "${name}" (${entry.file}) changed while it was copied: ${size} bytes, the lockfile says ${entry.size}.`, {
        fix: 'Copy from a build output nothing writes to, then run the command again.',
      });
    }
    const actual = await hashOpenFile(copy.fd, entry.size, new AbortController().signal);
    if (actual !== entry.sha256) throw new HashMismatchError(name, entry.file, entry.sha256, actual);
  } finally {
    await copy.close();
  }
}
