import type { LockDocument, PlatformLock } from '../lock/lockfile.js';
import { sha256Hex } from '../util/sha256.js';
import { type DsseEnvelope, signEnvelope, verifyEnvelope } from './dsse.js';
import type { SigningKey, TrustedKey } from './keys.js';
import { artifactSubject, BUILD_TYPE, buildStatement, IN_TOTO_PAYLOAD_TYPE, LOCKFILE_SUBJECT, type ParsedStatement, parseStatement, SLSA_PROVENANCE_V1 } from './statement.js';
import { TrustError } from './trust-error.js';

/** `builder.lock.json` → `builder.lock.json.sig`: the envelope lives beside what it signs. */
export const signaturePathFor = (lockfilePath: string) => `${lockfilePath}.sig`;

/** Sign a lockfile's exact bytes: the envelope's text, with a trailing newline. */
export function signLockfile(lock: LockDocument, lockfileText: string | Uint8Array, key: SigningKey, toolVersion: string, serial?: number): string {
  const statement = buildStatement(lock, sha256Hex(lockfileText), toolVersion, serial);
  const envelope: DsseEnvelope = signEnvelope(IN_TOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(statement)), [key]);
  return JSON.stringify(envelope, null, 2) + '\n';
}

export interface LockfileTrust {
  keyIds: string[];
  statement: ParsedStatement;
}

/**
 * Bytes in, verdict out: does `envelopeText` carry a trusted signature over a statement whose
 * lockfile subject is exactly `lockfileBytes`? Throws TrustError otherwise.
 */
export function verifyLockfileSignature(lockfileBytes: Uint8Array, envelopeText: string, trusted: readonly TrustedKey[]): LockfileTrust {
  const verified = verifyEnvelope(envelopeText, IN_TOTO_PAYLOAD_TYPE, trusted);
  const statement = parseStatement(verified.payload);
  // The key may sign other attestations about the same files (test results, scans): only
  // this tool's build provenance is permission to load.
  if (statement.predicateType !== SLSA_PROVENANCE_V1 || statement.buildType !== BUILD_TYPE) {
    throw new TrustError(
      'BAD_SIGNATURE',
      `The signed statement is not plugin-builder provenance (predicateType ${statement.predicateType}, buildType ${statement.buildType ?? 'none'}).`,
      'Sign the lockfile with `builder sign`.',
    );
  }
  const signedDigest = statement.subjects.get(LOCKFILE_SUBJECT);
  if (signedDigest === undefined) {
    throw new TrustError('BAD_SIGNATURE', `The signed statement has no "${LOCKFILE_SUBJECT}" subject: it does not vouch for a lockfile.`, 'Sign the lockfile with `builder sign`.');
  }
  const actual = sha256Hex(lockfileBytes);
  if (signedDigest !== actual) {
    throw new TrustError(
      'BAD_SIGNATURE',
      `The signature is for another lockfile (signed sha256 ${signedDigest}, this lockfile ${actual}).`,
      'Deploy the lockfile together with the .sig written for it, or sign this one with `builder sign`.',
    );
  }
  return { keyIds: verified.keyIds, statement };
}

/** Every artifact the lockfile lists (for a platform's section: under its directory `dir`) must be a subject with the same digest. */
export function checkArtifactsSigned(lock: PlatformLock, statement: ParsedStatement, dir = ''): void {
  for (const [name, entry] of Object.entries(lock.plugins)) {
    const signed = statement.subjects.get(artifactSubject(dir, entry.file));
    if (signed !== entry.sha256) {
      throw new TrustError(
        'BAD_SIGNATURE',
        `Plugin "${name}" (${artifactSubject(dir, entry.file)}) ${signed === undefined ? 'is not a subject of the signed statement' : `is signed with sha256 ${signed}, the lockfile says ${entry.sha256}`}.`,
        'Sign the lockfile again with `builder sign` after the build that produced it.',
      );
    }
  }
}
