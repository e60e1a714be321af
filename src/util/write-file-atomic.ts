import { link, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * Write `data` to `path` so that readers see either the old file or the whole new one:
 * temp file in the same directory (same filesystem, so rename is atomic), fsync, rename.
 * With `replace: false` the temp file is link()ed instead, which fails with EEXIST rather than
 * overwrite an existing file (a key someone already relies on).
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644, options: { replace?: boolean } = {}): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temp, 'wx', mode);
  try {
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (options.replace === false) await link(temp, path);
    else await rename(temp, path);
  } finally {
    // After a rename there is nothing left to remove; after a link, the temp name goes.
    await rm(temp, { force: true });
  }
}
