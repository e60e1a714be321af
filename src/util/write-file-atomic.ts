import { link, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/** A fresh temp name in `path`'s directory: same filesystem, so a rename onto `path` is atomic. */
export function tempPathBeside(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
}

/** Create `temp` (never an existing file), write `data`, fsync. On failure nothing is left behind. */
export async function writeNewFileSynced(temp: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  try {
    const handle = await open(temp, 'wx', mode);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

/**
 * Write `data` to `path` so that readers see either the old file or the whole new one:
 * temp file in the same directory, fsync, rename. With `replace: false` the temp file is
 * link()ed instead, which fails with EEXIST rather than overwrite an existing file (a key
 * someone already relies on).
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644, options: { replace?: boolean } = {}): Promise<void> {
  const temp = tempPathBeside(path);
  await writeNewFileSynced(temp, data, mode);
  try {
    if (options.replace === false) await link(temp, path);
    else await rename(temp, path);
  } finally {
    // After a rename there is nothing left to remove; after a link, the temp name goes.
    await rm(temp, { force: true });
  }
}
