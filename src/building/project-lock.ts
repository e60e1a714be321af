import { randomBytes } from 'node:crypto';
import { link, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BuilderError, OutputWriteError } from '../errors.js';
import { currentProcess, isAlive, type ProcessIdentity, sameProcess } from '../util/process-identity.js';

export interface LockHolder extends ProcessIdentity {
  since: string;
}

export class BuildLockedError extends BuilderError {
  constructor(readonly lockPath: string, readonly holder: LockHolder) {
    super('BUILD_LOCKED', `Another builder build is running in this project: pid ${holder.pid} on ${holder.host}, since ${holder.since} (${lockPath}).`, {
      fix: `Wait for it (leave out --no-wait), or, if that build is gone and ran on another host, remove ${lockPath}.`,
    });
  }
}

export interface ProjectLock {
  readonly path: string;
  release(): Promise<void>;
}

export const lockPathFor = (lockfile: string) => join(dirname(lockfile), `.${basename(lockfile)}.build-lock`);

const POLL_MS = 200;
// Breaking a stale lock takes milliseconds; a breaker file older than this was left by a crash.
const STALE_BREAKER_MS = 10_000;

async function readHolder(path: string): Promise<LockHolder | null> {
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
  throw new BuilderError('BUILD_LOCK_INVALID', `${path} is not a build lock this tool wrote.`, { fix: `Remove ${path} if no builder build is running.` });
}

/**
 * Remove the lock of a dead holder. Two builds may find the same stale lock at once: only the one
 * that creates the breaker file may remove it, and only if it still holds the dead holder's
 * content — never the fresh lock the other one may have taken meanwhile.
 */
async function breakStale(path: string, stale: LockHolder): Promise<void> {
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
    const current = await readHolder(path).catch(() => null);
    if (current && sameProcess(current, stale)) await rm(path, { force: true });
  } finally {
    await rm(breaker, { force: true });
  }
}

/**
 * One `builder build` per project at a time, across processes: a lock file beside the lockfile,
 * created whole with link() (so it is never seen half-written) and naming its holder. A holder
 * that died (pid gone, or reused by another process) is detected and its lock taken over.
 */
export async function acquireProjectLock(
  lockfile: string,
  options: { wait: boolean; signal?: AbortSignal; onWait?: (holder: LockHolder) => void },
): Promise<ProjectLock> {
  const path = lockPathFor(lockfile);
  const me: LockHolder = { ...currentProcess(), since: new Date().toISOString() };
  const temp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  await writeFile(temp, JSON.stringify(me) + '\n', { flag: 'wx' }).catch(async (err: unknown) => {
    await rm(temp, { force: true });
    throw new OutputWriteError(temp, err, 'create the build lock');
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
      const holder = await readHolder(path);
      if (holder === null) continue;
      if (isAlive(holder) === false) {
        await breakStale(path, holder);
        continue;
      }
      if (!options.wait) throw new BuildLockedError(path, holder);
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
      const holder = await readHolder(path).catch(() => null);
      if (holder && sameProcess(holder, me)) await rm(path, { force: true });
    },
  };
}
