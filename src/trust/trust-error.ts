import { BuilderError } from '../errors.js';

/**
 * Why a signature or key was refused. Codes: UNSIGNED_LOCKFILE (no signature where one is
 * required), BAD_SIGNATURE (an envelope that does not prove what it must), BAD_KEY,
 * ROLLBACK_REFUSED (a signed lockfile older than the one serving, or than the floor).
 */
export class TrustError extends BuilderError {
  constructor(code: 'UNSIGNED_LOCKFILE' | 'BAD_SIGNATURE' | 'BAD_KEY' | 'ROLLBACK_REFUSED', message: string, fix: string) {
    super(code, message, { fix });
  }
}
