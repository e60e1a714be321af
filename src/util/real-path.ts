import { lstat, readlink, realpath } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export class DanglingLinkError extends Error {
  constructor(readonly path: string, readonly target: string) {
    super(`${path} is a symbolic link to ${target}, which does not exist`);
  }
}

/**
 * The real path of `path` even when its last components do not exist yet: the real path of its
 * longest existing prefix (every symbolic link on the way resolved) plus the rest. A dangling
 * link on the way is an error: writing through it would create its target, wherever that is.
 */
export async function realPathAllowingMissing(path: string): Promise<{ real: string; exists: boolean }> {
  const rest: string[] = [];
  let current = path;
  for (;;) {
    try {
      const real = await realpath(current);
      return { real: rest.length ? join(real, ...rest.reverse()) : real, exists: rest.length === 0 };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') throw err;
      const isLink = await lstat(current).then((s) => s.isSymbolicLink(), () => false);
      if (isLink) throw new DanglingLinkError(current, await readlink(current));
      const parent = dirname(current);
      if (parent === current) throw err;
      rest.push(basename(current));
      current = parent;
    }
  }
}
