import { createPublicKey } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { BuilderError, EXIT_UNUSABLE } from '../errors.js';
import { readSmallFile } from '../util/safe-file.js';
import { parseSigningKey, type SigningKey, type TrustedKey } from '../trust/keys.js';
import { signLockfile, verifyLockfileSignature } from '../trust/lockfile-signature.js';
import type { LockfileSigner } from '../build/build-project.js';
import { toolVersion } from '../version.js';

/** Read a private signing key; warns (through `warn`) when others may read it. */
export async function readSigningKey(path: string, warn: (message: string) => void): Promise<SigningKey> {
  let pem: Buffer;
  try {
    pem = await readSmallFile(path, 'The signing key', 16 * 1024, { followSymlinks: true });
  } catch (err) {
    throw new BuilderError('BAD_KEY', `Cannot read the signing key: ${(err as Error).message}`, {
      fix: 'Pass the private key written by `builder keygen` (NAME.key).',
      exitCode: EXIT_UNUSABLE,
    });
  }
  const mode = (await stat(path)).mode & 0o077;
  if (mode !== 0) warn(`${path} can be read by other users (mode ${((await stat(path)).mode & 0o777).toString(8)}): chmod 600 it`);
  try {
    return parseSigningKey(pem, path);
  } catch (err) {
    const error = err as BuilderError;
    throw new BuilderError(error.code, error.message, { ...(error.fix ? { fix: error.fix } : {}), exitCode: EXIT_UNUSABLE });
  }
}

export function lockfileSigner(key: SigningKey): LockfileSigner {
  const own: TrustedKey = { keyId: key.keyId, key: createPublicKey(key.key), source: '--sign-key' };
  return {
    keyId: key.keyId,
    // The serial is the signing time: later signatures outrank earlier ones at every host.
    sign: (lock, text) => signLockfile(lock, text, key, toolVersion(), Date.now()),
    vouched: (text, envelope) => {
      try {
        verifyLockfileSignature(Buffer.from(text, 'utf8'), envelope, [own]);
        return true;
      } catch {
        return false;
      }
    },
  };
}
