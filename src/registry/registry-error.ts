import { BuilderError } from '../errors.js';

export type RegistryErrorCode =
  | 'BAD_REFERENCE'
  | 'TAG_REFUSED'
  | 'REGISTRY_UNREACHABLE'
  | 'REGISTRY_TIMEOUT'
  | 'REGISTRY_ERROR'
  | 'REGISTRY_AUTH_FAILED'
  | 'REGISTRY_INSECURE'
  | 'DIGEST_MISMATCH'
  | 'SET_INVALID'
  | 'STORE_LOCKED'
  | 'REF_NOT_ALLOWED';

/** Why a publish or pull did not happen; nothing it fetched is kept as valid. */
export class RegistryError extends BuilderError {
  /** Worth a retry: the registry may come back (unreachable, timed out, 5xx, 429). A wrong digest will not change. */
  readonly transient: boolean;
  constructor(code: RegistryErrorCode, message: string, options: { fix?: string; cause?: unknown; transient?: boolean } = {}) {
    super(code, message, { ...(options.fix ? { fix: options.fix } : {}), ...(options.cause !== undefined ? { cause: options.cause } : {}) });
    this.transient = options.transient ?? (code === 'REGISTRY_UNREACHABLE' || code === 'REGISTRY_TIMEOUT');
  }
}

export const isTransient = (err: unknown): boolean => err instanceof RegistryError && err.transient;
