import { createPublicKey } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { BuilderError } from '../errors.js';
import { readSmallFile } from '../util/safe-file.js';
import { parseSigningKey, type SigningKey, type TrustedKey } from '../trust/keys.js';
import { verifyEnvelope } from '../trust/dsse.js';
import { signLockfile, verifyLockfileSignature } from '../trust/lockfile-signature.js';
import { IN_TOTO_PAYLOAD_TYPE, MAX_SERIAL_AHEAD_MS, parseStatement } from '../trust/statement.js';
import type { LockfileSigner } from '../building/lock-signer.js';
import { toolVersion } from '../version.js';

/** Read a private signing key; warns (through `warn`) when others may read it. */
export async function readSigningKey(path: string, warn: (message: string) => void): Promise<SigningKey> {
  let pem: Buffer;
  try {
    pem = await readSmallFile(path, 'The signing key', 16 * 1024, { followSymlinks: true });
  } catch (err) {
    throw new BuilderError('BAD_KEY', `Cannot read the signing key: ${(err as Error).message}`, {
      fix: 'Pass the private key written by `builder keygen` (NAME.key).',
    });
  }
  const mode = (await stat(path)).mode & 0o077;
  if (mode !== 0) warn(`${path} can be read by other users (mode ${((await stat(path)).mode & 0o777).toString(8)}): chmod 600 it`);
  try {
    return parseSigningKey(pem, path);
  } catch (err) {
    const error = err as BuilderError;
    throw new BuilderError(error.code, error.message, { ...(error.fix ? { fix: error.fix } : {}) });
  }
}

/**
 * Signs with `key`. The serial is the signing time, and never lower than the previous envelope's
 * (the .sig beside the lockfile, when this key made it, for whatever lockfile): later signatures
 * outrank earlier ones at every host even when this machine's clock went back.
 */
export function lockfileSigner(key: SigningKey, now: () => number = Date.now): LockfileSigner {
  const own: TrustedKey = { keyId: key.keyId, key: createPublicKey(key.key), source: '--sign-key' };
  return {
    keyId: key.keyId,
    sign: (lock, text, previousEnvelope) => {
      const previous = previousEnvelope ? serialSignedBy(previousEnvelope, own) : 0;
      const serial = Math.max(now(), previous + 1);
      if (serial > now() + MAX_SERIAL_AHEAD_MS) {
        throw new BuilderError('BAD_SERIAL', `The previous signature's serial ${previous} (${new Date(previous).toISOString()}) is more than a day ahead of this machine's clock: a signer's clock was wrong, and hosts refuse serials that far ahead.`, {
          fix: 'Fix the clock; then remove the old .sig and sign again, restart the hosts that served the future-dated set (and lower their --min-serial).',
        });
      }
      return signLockfile(lock, text, key, toolVersion(), serial);
    },
    vouched: (text, envelope) => {
      try {
        return verifyLockfileSignature(Buffer.from(text, 'utf8'), envelope, [own]).statement.serial;
      } catch {
        return null;
      }
    },
  };
}

/** The serial of an envelope `key` signed (over any lockfile), or 0. */
function serialSignedBy(envelope: string, key: TrustedKey): number {
  try {
    return parseStatement(verifyEnvelope(envelope, IN_TOTO_PAYLOAD_TYPE, [key]).payload).serial;
  } catch {
    return 0;
  }
}
