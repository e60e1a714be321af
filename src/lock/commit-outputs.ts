import { randomBytes } from 'node:crypto';
import { link, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { OutputWriteError } from '../errors.js';
import { tempPathBeside, writeNewFileSynced } from '../util/write-file-atomic.js';

export interface OutputPlan {
  /** Built artifacts, staged on the filesystem of their destination. */
  artifacts: ReadonlyArray<{ staged: string; dest: string }>;
  /** The new lockfile text; null when the lockfile on disk already holds it. */
  lockfile: { path: string; text: string | null };
  /** The lockfile signature: new text, null to remove a stale one, undefined to leave it. */
  signature?: { path: string; text: string | null };
}

/** A file replaced (or created) by the commit, and how to put it back. */
interface Replaced {
  dest: string;
  /** A hard link to the previous bytes; null when there were none. */
  backup: string | null;
}

async function fsyncPath(path: string, flags: 'r' | 'r+' = 'r'): Promise<void> {
  const handle = await open(path, flags);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** The fsynced temp beside `dest`, or an error naming `dest` and the temp. */
async function writeTemp(dest: string, text: string): Promise<string> {
  const temp = tempPathBeside(dest);
  await writeNewFileSynced(temp, text).catch((err: unknown) => {
    throw new OutputWriteError(dest, err, `write (through ${temp})`);
  });
  return temp;
}

/** Keep the previous bytes of `dest` under a new name on the same filesystem (a link: no space used). */
async function backupOf(dest: string, dir: string): Promise<string | null> {
  const backup = join(dir, `.backup-${basename(dest)}.${randomBytes(6).toString('hex')}`);
  try {
    await link(dest, backup);
    return backup;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new OutputWriteError(dest, err, 'keep a copy of the previous');
  }
}

/**
 * Put a build's outputs in place so that readers find either the old set or the new set:
 * everything that can fail for lack of space (the lockfile and signature temps, fsyncs) happens
 * before anything is replaced; then the artifacts are renamed in, the signature, and the
 * lockfile last. If any step fails, every file already replaced gets its previous bytes back
 * (kept as hard links) and the error names the path that failed.
 */
export async function commitOutputs(plan: OutputPlan, backupDir: string): Promise<void> {
  const temps: string[] = [];
  const replaced: Replaced[] = [];
  const keep = new Set<string>();
  try {
    const lockTemp = plan.lockfile.text === null ? null : await writeTemp(plan.lockfile.path, plan.lockfile.text);
    if (lockTemp) temps.push(lockTemp);
    const sigTemp = plan.signature?.text ? await writeTemp(plan.signature.path, plan.signature.text) : null;
    if (sigTemp) temps.push(sigTemp);
    for (const artifact of plan.artifacts) {
      await fsyncPath(artifact.staged, 'r+').catch((err: unknown) => {
        throw new OutputWriteError(artifact.staged, err, 'flush');
      });
    }

    for (const artifact of plan.artifacts) {
      const backup = await backupOf(artifact.dest, backupDir);
      if (backup) temps.push(backup);
      await rename(artifact.staged, artifact.dest).catch((err: unknown) => {
        throw new OutputWriteError(artifact.dest, err, 'move into place');
      });
      replaced.push({ dest: artifact.dest, backup });
    }
    if (plan.signature) {
      const { path } = plan.signature;
      const backup = await backupOf(path, dirname(path));
      if (backup) temps.push(backup);
      if (sigTemp) {
        await rename(sigTemp, path).catch((err: unknown) => {
          throw new OutputWriteError(path, err, 'move into place');
        });
        replaced.push({ dest: path, backup });
      } else if (backup) {
        await rm(path).catch((err: unknown) => {
          throw new OutputWriteError(path, err, 'remove the stale');
        });
        replaced.push({ dest: path, backup });
      }
    }
    if (lockTemp) {
      await rename(lockTemp, plan.lockfile.path).catch((err: unknown) => {
        throw new OutputWriteError(plan.lockfile.path, err, 'move into place');
      });
    }
    // The renames are durable only once the directories holding them are.
    const dirs = new Set([...plan.artifacts.map((a) => dirname(a.dest)), dirname(plan.lockfile.path)]);
    for (const dir of dirs) await fsyncPath(dir).catch(() => undefined);
  } catch (err) {
    const notRestored = await restore(replaced);
    for (const item of replaced) if (item.backup && notRestored.includes(item.dest)) keep.add(item.backup);
    if (notRestored.length > 0 && err instanceof Error) {
      err.message += `\nCould not restore the previous bytes of: ${notRestored.join(', ')} (their previous bytes are kept as .backup-* files in the staging or lockfile directory).`;
    }
    throw err;
  } finally {
    await Promise.all(temps.filter((t) => !keep.has(t)).map((t) => rm(t, { force: true })));
  }
}

/** Undo in reverse order; returns the paths that could not be put back. */
async function restore(replaced: readonly Replaced[]): Promise<string[]> {
  const failed: string[] = [];
  for (const item of [...replaced].reverse()) {
    try {
      if (item.backup) await rename(item.backup, item.dest);
      else await rm(item.dest, { force: true });
    } catch {
      failed.push(item.dest);
    }
  }
  return failed;
}
