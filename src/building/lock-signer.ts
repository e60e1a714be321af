import type { LockDocument } from '../lock/lockfile.js';

/** What signs a lockfile as a build writes it (the CLI makes one from a key file). */
export interface LockfileSigner {
  keyId: string;
  /** The DSSE envelope text for these exact lockfile bytes; its serial above `previousEnvelope`'s when this key made that. */
  sign(lock: LockDocument, lockfileText: string, previousEnvelope: string | null): string;
  /** The serial of `envelope` when it is this key's valid signature of `lockfileText` (what this key vouched for before), else null. */
  vouched(lockfileText: string, envelope: string): number | null;
}
