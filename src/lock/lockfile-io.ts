import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../util/write-file-atomic.js';
import { type LockDocument, parseLockDocument, serializeLockfile } from './lockfile.js';

/** The lockfile at `path` (either shape), or null when there is none yet. */
export async function readLockfile(path: string): Promise<LockDocument | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  return parseLockDocument(text, path);
}

export async function writeLockfile(path: string, lock: LockDocument): Promise<void> {
  await writeFileAtomic(path, serializeLockfile(lock));
}
