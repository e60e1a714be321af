import { BuilderError, LockfileError } from '../errors.js';
import { LOCKFILE_LIMITS } from '../limits.js';
import { readSmallFile, UnsafeFileError } from '../util/safe-file.js';
import { writeFileAtomic } from '../util/write-file-atomic.js';
import { type LockDocument, parseLockDocument, platformViews, serializeLockfile } from './lockfile.js';

/**
 * The lockfile at `path` (either shape), or null when there is none yet. Anything else that
 * stops it from being read — a conflict half-merged, a symlink, a FIFO, a file over the limit —
 * is LOCKFILE_INVALID: a command that would rewrite it must stop, not take it for "none" and
 * write a lockfile that silently drops the entries it could not read.
 */
export async function readLockfile(path: string): Promise<LockDocument | null> {
  let bytes: Buffer;
  try {
    bytes = await readSmallFile(path, 'The lockfile', LOCKFILE_LIMITS.maxBytes);
  } catch (err) {
    if (err instanceof UnsafeFileError && err.code === 'FILE_MISSING') return null;
    if (err instanceof UnsafeFileError) throw new LockfileError(path, err.message.replace(/^The lockfile \S+ /, ''));
    throw err;
  }
  return parseLockDocument(bytes.toString('utf8'), path);
}

/** The lockfile's text, refused when a runtime would refuse it: one set of limits for writing and reading. */
export function lockfileText(path: string, lock: LockDocument): string {
  const count = platformViews(lock).reduce((n, view) => n + Object.keys(view.lock.plugins).length, 0);
  if (count > LOCKFILE_LIMITS.maxPlugins) {
    throw new BuilderError('LOCKFILE_TOO_LARGE', `${path} would list ${count} plugins; runtimes accept at most ${LOCKFILE_LIMITS.maxPlugins} in one lockfile. Nothing was written.`, {
      fix: 'Split the plugins over several projects (each with its own lockfile).',
    });
  }
  const text = serializeLockfile(lock);
  if (Buffer.byteLength(text) > LOCKFILE_LIMITS.maxBytes) {
    throw new BuilderError('LOCKFILE_TOO_LARGE', `${path} would be ${Buffer.byteLength(text)} bytes; runtimes accept at most ${LOCKFILE_LIMITS.maxBytes}. Nothing was written.`, {
      fix: 'Split the plugins over several projects (each with its own lockfile), or list fewer source files per plugin.',
    });
  }
  return text;
}

export async function writeLockfile(path: string, lock: LockDocument): Promise<void> {
  await writeFileAtomic(path, lockfileText(path, lock));
}
