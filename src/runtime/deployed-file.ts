import { join } from 'node:path';
import { hashOpenFile } from '../util/hash-file.js';
import { openRegularFile, UnsafeFileError } from '../util/safe-file.js';

export type DeployedState = 'matches' | 'changed' | 'missing' | 'unsafe';

export interface DeployedCheck {
  onDisk: DeployedState;
  onDiskReason?: string;
}

/**
 * Re-checks the deployed file of a serving plugin against the bytes that serve. A file whose
 * identity and times are unchanged since its last check is not hashed again.
 */
export class DeployedFileChecker {
  private readonly verified = new Map<string, string>();

  /** `dir` gives the serving directory at the time of each check: a reload by reference moves it. */
  constructor(private readonly dir: () => string) {}

  async check(file: string, size: number, sha256: string, timeoutMs: number): Promise<DeployedCheck> {
    const path = join(this.dir(), file);
    let opened;
    try {
      opened = await openRegularFile(path, 'The deployed file', { exactSize: size });
    } catch (err) {
      if (!(err instanceof UnsafeFileError)) throw err;
      const onDisk: DeployedState = err.code === 'FILE_MISSING' ? 'missing' : err.code === 'SIZE_MISMATCH' ? 'changed' : 'unsafe';
      return { onDisk, onDiskReason: `${err.message} The serving version is still sha256 ${sha256.slice(0, 16)}….` };
    }
    const { handle, stats } = opened;
    try {
      const identity = `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}:${stats.ctimeMs}:${sha256}`;
      if (this.verified.get(path) === identity) return { onDisk: 'matches' };
      let actual: string;
      try {
        actual = await hashOpenFile(handle.fd, size, AbortSignal.timeout(timeoutMs));
      } catch (err) {
        // A file that cannot be read back (I/O error, shrinking, too slow) is a finding, not a failure of the report.
        return { onDisk: 'unsafe', onDiskReason: `${path} could not be re-hashed: ${(err as Error).message}` };
      }
      if (actual !== sha256) {
        this.verified.delete(path);
        return { onDisk: 'changed', onDiskReason: `${path} now has sha256 ${actual}; the serving version is ${sha256}. Reload to load what the lockfile lists.` };
      }
      this.verified.set(path, identity);
      return { onDisk: 'matches' };
    } finally {
      await handle.close();
    }
  }
}
