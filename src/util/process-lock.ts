import { randomBytes } from 'node:crypto';
import { link, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { type BuilderError, OutputWriteError } from '../errors.js';
import { currentProcess, isAlive, type ProcessIdentity, sameProcess } from './process-identity.js';

export interface LockHolder extends ProcessIdentity {
  since: string;
}

export interface ProcessLock {
  readonly path: string;
  release(): Promise<void>;
}

export interface ProcessLockOptions {
  wait: boolean;
  signal?: AbortSignal;
  onWait?: (holder: LockHolder) => void;
  /** What a live holder is reported as (without waiting). */
  locked: (holder: LockHolder) => BuilderError;
  /** What a file at the lock's path that is not a lock is reported as. */
  invalid: () => BuilderError;
  /** The lock's name in a write failure ("the build lock"). */
  name: string;
  /**
   * A holder on another host counts as gone: for a lock only one machine uses, where another
   * hostname is a container since replaced (its pid means nothing here).
   */
  otherHostIsStale?: boolean;
}

const POLL_MS = 200;
// Breaking a stale lock takes milliseconds; a breaker file older than this was left by a crash.
const STALE_BREAKER_MS = 10_000;

async function readHolder(path: string, invalid: () => BuilderError): Promise<LockHolder | null> {
  const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw err;
  });
  if (text === null) return null;
  try {
    const value = JSON.parse(text) as LockHolder;
    if (typeof value.host === 'string' && Number.isInteger(value.pid) && typeof value.since === 'string') return value;
  } catch {
    // fall through: not ours
  }
  throw invalid();
}

/**
 * Remove the lock of a dead holder. Two processes may find the same stale lock at once: only the
 * one that creates the breaker file may remove it, and only if it still holds the dead holder's
 * content — never the fresh lock the other one may have taken meanwhile.
 */
async function breakStale(path: string, stale: LockHolder, invalid: () => BuilderError): Promise<void> {
  const breaker = `${path}.break`;
  try {
    await writeFile(breaker, String(process.pid), { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const age = await stat(breaker).then((s) => Date.now() - s.mtimeMs, () => 0);
    if (age > STALE_BREAKER_MS) await rm(breaker, { force: true });
    return;
  }
  try {
    const current = await readHolder(path, invalid).catch(() => null);
    if (current && sameProcess(current, stale)) await rm(path, { force: true });
  } finally {
    await rm(breaker, { force: true });
  }
}

/**
 * One holder at a time across processes: a lock file created whole with link() (so it is never
 * seen half-written) and naming its holder. A holder that died (pid gone, or reused by another
 * process) is detected and its lock taken over.
 */
export async function acquireProcessLock(path: string, options: ProcessLockOptions): Promise<ProcessLock> {
  const me: LockHolder = { ...currentProcess(), since: new Date().toISOString() };
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temp, JSON.stringify(me) + '\n', { flag: 'wx' }).catch(async (err: unknown) => {
    await rm(temp, { force: true });
    throw new OutputWriteError(temp, err, `create ${options.name}`);
  });
  let told = false;
  try {
    for (;;) {
      options.signal?.throwIfAborted();
      try {
        await link(temp, path);
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const holder = await readHolder(path, options.invalid);
      if (holder === null) continue;
      const alive = isAlive(holder);
      if (alive === false || (alive === 'unknown' && options.otherHostIsStale)) {
        await breakStale(path, holder, options.invalid);
        continue;
      }
      if (!options.wait) throw options.locked(holder);
      if (!told) options.onWait?.(holder);
      told = true;
      await sleep(POLL_MS, undefined, options.signal ? { signal: options.signal } : {}).catch((err: unknown) => {
        options.signal?.throwIfAborted();
        throw err;
      });
    }
  } finally {
    await rm(temp, { force: true });
  }
  return {
    path,
    async release() {
      const holder = await readHolder(path, options.invalid).catch(() => null);
      if (holder && sameProcess(holder, me)) await rm(path, { force: true });
    },
  };
}
