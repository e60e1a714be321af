import { BuilderError, LockfileError, LockfileRefusedError } from '../errors.js';
import { isMultiPlatform, type Lockfile, parseLockDocument, platformViews } from '../lock/lockfile.js';
import { checkArtifactsSigned, verifyLockfileSignature } from '../trust/lockfile-signature.js';
import type { TrustedKey } from '../trust/keys.js';
import { MAX_SERIAL_AHEAD_MS } from '../trust/statement.js';
import { TrustError } from '../trust/trust-error.js';
import { sha256Hex } from '../util/sha256.js';
import { readSmallFile, UnsafeFileError } from '../util/safe-file.js';

export interface AcceptedLockfile {
  /** This host's platform's entries. */
  lock: Lockfile;
  /** Where they lie under the plugin directory ('' for a single-platform lockfile, else `<os>-<arch>`). */
  dir: string;
  /** sha256 (hex) of the lockfile's bytes. */
  sha256: string;
  /** Key ids whose signature verified; empty when no key is trusted. */
  signedBy: string[];
  /** The signed statement's serial (0: unsigned, or signed without one). */
  serial: number;
}

/** The lowest serial a signed lockfile may have: the configured floor, or the serving lockfile's. */
export interface SerialFloor {
  serial: number;
  what: string;
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
export async function acceptLockfile(lockPath: string, signaturePath: string, trusted: readonly TrustedKey[], limits: LockfileLimits, platform: string, floor: SerialFloor = { serial: 0, what: 'the floor' }): Promise<AcceptedLockfile> {
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
    // The signature of an old set stays valid forever: replaying it would bring back plugins
    // that were replaced for a reason. A lower serial than the floor is a rollback.
    // A serial far ahead of this clock is a signer's wrong clock: taken, it would lock out every
    // honest signature after it.
    if (statement.serial > Date.now() + MAX_SERIAL_AHEAD_MS) {
      throw new TrustError('BAD_SIGNATURE', `${lockPath} is signed with serial ${statement.serial} (${new Date(statement.serial).toISOString()}), more than a day ahead of this host's clock.`, "Fix the signer's clock and sign again (or fix this host's clock).");
    }
    if (statement.serial < floor.serial) {
      throw new TrustError('ROLLBACK_REFUSED', `${lockPath} is signed with serial ${statement.serial}, older than ${floor.what} ${floor.serial}: a rollback is refused.`, 'Deploy the newest signed lockfile (sign this one again with `builder sign` to give it a new serial, if going back is intended).');
    }
  }
  const document = parseLockDocument(bytes.toString('utf8'), lockPath);
  const views = platformViews(document);
  const count = views.reduce((n, v) => n + Object.keys(v.lock.plugins).length, 0);
  if (count > limits.maxPlugins) {
    throw new LockfileRefusedError('LOCKFILE_TOO_LARGE', `${lockPath} lists ${count} plugins, more than the limit of ${limits.maxPlugins}.`, 'Raise --max-plugins if this lockfile is genuine.');
  }
  // A single-platform lockfile is taken whatever its platform: the environment check names an
  // architecture that differs, with the rest of the fingerprint.
  const view = isMultiPlatform(document) ? views.find((v) => v.platform === platform) : views[0];
  if (!view) {
    throw new LockfileRefusedError(
      'PLATFORM_NOT_LOCKED',
      `${lockPath} holds plugins for ${views.map((v) => v.platform).join(', ')}; this host is ${platform}: nothing is loaded.`,
      `Add "${platform}" to host.platforms in builder.config.json, build, and deploy the new lockfile with its ${platform.replace('/', '-')}/ directory.`,
    );
  }
  if (statement) checkArtifactsSigned(view.lock, statement, view.dir);
  return { lock: view.lock, dir: view.dir, sha256: sha256Hex(bytes), signedBy, serial: statement?.serial ?? 0 };
}

export function isLockfileRefusal(err: unknown): err is BuilderError {
  return err instanceof LockfileRefusedError || err instanceof TrustError || err instanceof LockfileError || err instanceof UnsafeFileError;
}
