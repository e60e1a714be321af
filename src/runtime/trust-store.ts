import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { BuilderError, describeCause, EXIT_UNUSABLE } from '../errors.js';
import { parseTrustedKey, type TrustedKey } from '../trust/keys.js';
import { readSmallFile } from '../util/safe-file.js';

const MAX_KEY_BYTES = 16 * 1024;
const MAX_KEYS = 64;

/**
 * The host's trusted public keys: each `--trust-key FILE` and every `*.pub` in each trust
 * directory. Fails closed: an unreadable or malformed key stops the start, never silently
 * shrinks the set (which would turn a signed host into an unsigned one).
 */
export async function loadTrustedKeys(files: readonly string[], dirs: readonly string[]): Promise<TrustedKey[]> {
  const paths = [...files];
  for (const dir of dirs) {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      throw new BuilderError('BAD_KEY', `The trust directory ${dir} cannot be read: ${describeCause(err)}`, {
        fix: 'Create it (it may be empty) or drop --trust-dir.',
        exitCode: EXIT_UNUSABLE,
      });
    }
    paths.push(...names.filter((n) => n.endsWith('.pub')).sort().map((n) => join(dir, n)));
  }
  if (paths.length > MAX_KEYS) throw new BuilderError('BAD_KEY', `More than ${MAX_KEYS} trusted keys.`, { exitCode: EXIT_UNUSABLE });
  const keys = new Map<string, TrustedKey>();
  for (const path of paths) {
    try {
      const key = parseTrustedKey(await readSmallFile(path, 'The trusted key', MAX_KEY_BYTES, { followSymlinks: true }), path);
      if (!keys.has(key.keyId)) keys.set(key.keyId, key);
    } catch (err) {
      const error = err as BuilderError;
      throw new BuilderError('BAD_KEY', `Trusted key ${path}: ${error.message}`, { fix: error.fix ?? 'Use a .pub written by `builder keygen`.', exitCode: EXIT_UNUSABLE });
    }
  }
  return [...keys.values()];
}
