import { BuilderError, LockfileError, LockfileRefusedError } from '../errors.js';
import { type Lockfile, parseLockfile } from '../lock/lockfile.js';
import { checkArtifactsSigned, verifyLockfileSignature } from '../trust/lockfile-signature.js';
import type { TrustedKey } from '../trust/keys.js';
import { TrustError } from '../trust/trust-error.js';
import { sha256Hex } from '../util/sha256.js';
import { readSmallFile, UnsafeFileError } from '../util/safe-file.js';

export interface AcceptedLockfile {
  lock: Lockfile;
  /** sha256 (hex) of the lockfile's bytes. */
  sha256: string;
  /** Key ids whose signature verified; empty when no key is trusted. */
  signedBy: string[];
}

export interface LockfileLimits {
  maxLockfileBytes: number;
  maxSignatureBytes: number;
  maxPlugins: number;
}

/**
 * Read, authenticate and parse a deployed lockfile, all or nothing. With trusted keys, the
 * signature is checked over the exact bytes before they are parsed, and every artifact must be
 * a signed subject. Throws a BuilderError naming the reason; never returns a partial lockfile.
 */
export async function acceptLockfile(lockPath: string, signaturePath: string, trusted: readonly TrustedKey[], limits: LockfileLimits): Promise<AcceptedLockfile> {
  let bytes: Buffer;
  try {
    bytes = await readSmallFile(lockPath, 'The lockfile', limits.maxLockfileBytes);
  } catch (err) {
    if (err instanceof UnsafeFileError && err.code === 'FILE_MISSING') {
      throw new LockfileRefusedError('LOCKFILE_MISSING', `No lockfile at ${lockPath}: nothing is loaded.`, 'Deploy builder.lock.json (and its .sig) together with the .so files, then reload.');
    }
    if (err instanceof UnsafeFileError && err.code === 'FILE_TOO_LARGE') {
      throw new LockfileRefusedError('LOCKFILE_TOO_LARGE', err.message, 'Raise --max-lockfile-bytes if this lockfile is genuine.');
    }
    throw err;
  }
  let signedBy: string[] = [];
  let statement: ReturnType<typeof verifyLockfileSignature>['statement'] | null = null;
  if (trusted.length > 0) {
    let envelope: Buffer;
    try {
      envelope = await readSmallFile(signaturePath, 'The lockfile signature', limits.maxSignatureBytes);
    } catch (err) {
      if (err instanceof UnsafeFileError && err.code === 'FILE_MISSING') {
        throw new TrustError('UNSIGNED_LOCKFILE', `This host trusts signing keys, and ${lockPath} has no signature (${signaturePath}).`, 'Sign it with `builder sign --key KEY` (or build with --sign-key) and deploy the .sig beside it.');
      }
      throw new TrustError('BAD_SIGNATURE', `The lockfile signature cannot be read: ${(err as Error).message}`, 'Deploy the .sig written by `builder sign`.');
    }
    const verdict = verifyLockfileSignature(bytes, envelope.toString('utf8'), trusted);
    signedBy = verdict.keyIds;
    statement = verdict.statement;
  }
  const lock = parseLockfile(bytes.toString('utf8'), lockPath);
  const count = Object.keys(lock.plugins).length;
  if (count > limits.maxPlugins) {
    throw new LockfileRefusedError('LOCKFILE_TOO_LARGE', `${lockPath} lists ${count} plugins, more than the limit of ${limits.maxPlugins}.`, 'Raise --max-plugins if this lockfile is genuine.');
  }
  if (statement) checkArtifactsSigned(lock, statement);
  return { lock, sha256: sha256Hex(bytes), signedBy };
}

export function isLockfileRefusal(err: unknown): err is BuilderError {
  return err instanceof LockfileRefusedError || err instanceof TrustError || err instanceof LockfileError || err instanceof UnsafeFileError;
}
