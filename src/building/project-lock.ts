import { basename, dirname, join } from 'node:path';
import { BuilderError } from '../errors.js';
import { acquireProcessLock, type LockHolder, type ProcessLock } from '../util/process-lock.js';

export type { LockHolder };
export type ProjectLock = ProcessLock;

export class BuildLockedError extends BuilderError {
  constructor(readonly lockPath: string, readonly holder: LockHolder) {
    super('BUILD_LOCKED', `Another builder build is running in this project: pid ${holder.pid} on ${holder.host}, since ${holder.since} (${lockPath}).`, {
      fix: `Wait for it (leave out --no-wait), or, if that build is gone and ran on another host, remove ${lockPath}.`,
    });
  }
}

export const lockPathFor = (lockfile: string) => join(dirname(lockfile), `.${basename(lockfile)}.build-lock`);

/** One `builder build` per project at a time, across processes: a lock file beside the lockfile. */
export function acquireProjectLock(
  lockfile: string,
  options: { wait: boolean; signal?: AbortSignal; onWait?: (holder: LockHolder) => void },
): Promise<ProjectLock> {
  const path = lockPathFor(lockfile);
  return acquireProcessLock(path, {
    ...options,
    name: 'the build lock',
    locked: (holder) => new BuildLockedError(path, holder),
    invalid: () => new BuilderError('BUILD_LOCK_INVALID', `${path} is not a build lock this tool wrote.`, { fix: `Remove ${path} if no builder build is running.` }),
  });
}
