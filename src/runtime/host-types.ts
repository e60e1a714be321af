import type { EnvironmentFingerprint } from '../env/fingerprint.js';
import { LOCKFILE_LIMITS } from '../limits.js';
import type { TrustedKey } from '../trust/keys.js';
import type { LockfileLimits } from './accept-lockfile.js';
import type { DeployedState } from './deployed-file.js';
import type { NativeLoader } from './native-loader.js';
import type { Canary } from './child-canary.js';
import type { Sealer } from './sealer.js';

/** What a PluginHost is given, and what it reports. */
export interface HostLimits extends LockfileLimits {
  /** A reload that takes longer is abandoned (it commits nothing) and the next may start. */
  reloadTimeoutMs: number;
  /** A plugin call (callWithin) still running after this is CALL_TIMEOUT, and its plugin stuck. */
  callTimeoutMs: number;
  /** Calls running at once on worker threads; the rest of the pool is left to file I/O. */
  maxCallsInFlight: number;
}

/** libuv's pool size, read as libuv reads it (uv__threadpool init: atoi, 0 → 1, at most 1024; unset → 4). */
export function threadPoolSize(value = process.env.UV_THREADPOOL_SIZE): number {
  if (value === undefined) return 4;
  const n = Number.parseInt(value, 10);
  return Math.min(1024, Math.max(1, Number.isNaN(n) ? 0 : n) || 1);
}

export const DEFAULT_HOST_LIMITS: HostLimits = {
  maxLockfileBytes: LOCKFILE_LIMITS.maxBytes,
  maxSignatureBytes: LOCKFILE_LIMITS.maxSignatureBytes,
  maxPlugins: LOCKFILE_LIMITS.maxPlugins,
  reloadTimeoutMs: 60_000,
  callTimeoutMs: 30_000,
  // The pool runs both plugin calls and file reads: calls get all but two threads (none below three).
  maxCallsInFlight: Math.max(0, threadPoolSize() - 2),
};

/** A plugin directory to load from: the deployed one, or a set laid out from a registry. */
export interface PluginSource {
  dir: string;
  lockPath: string;
  signaturePath: string;
  /** The pinned reference (`repo@sha256:…`) of a set pulled from a registry. */
  ref?: string;
}

export interface PluginHostOptions {
  /** Directory with the .so files (and, by default, builder.lock.json). */
  pluginDir: string;
  /** The pinned reference the directory was pulled from, reported with the lockfile. */
  ref?: string;
  /** Lockfile path; default `<pluginDir>/builder.lock.json`. */
  lockfile?: string;
  /** Signature path; default `<lockfile>.sig`. */
  signature?: string;
  loader: NativeLoader;
  /** Where the private, immutable copies that get hashed and loaded are made. */
  sealer: Sealer;
  /** Loads each new version in a throwaway process first (childProcessCanary); none: loaded here directly. */
  canary?: Canary;
  /** The running system's fingerprint (computed by `liveFingerprint()`). */
  liveEnvironment: EnvironmentFingerprint;
  /**
   * Public keys whose signature a lockfile must carry. Empty: lockfiles are not
   * authenticated (reported as trust "unsigned", warned about once).
   */
  trustedKeys?: readonly TrustedKey[];
  /** With trusted keys: signed lockfiles with a lower serial are refused (ROLLBACK_REFUSED). */
  minSerial?: number;
  /**
   * Emergency override: load despite an environment mismatch. Every load under it is logged
   * as a warning, because it gives up the guarantee this runtime exists for.
   */
  allowEnvironmentMismatch?: boolean;
  limits?: Partial<HostLimits>;
  log?: (level: 'info' | 'warn', message: string) => void;
}

export type PluginState = 'loaded' | 'rejected';
export type TrustMode = 'signed' | 'unsigned';

export interface PluginStatus {
  name: string;
  status: PluginState;
  file: string;
  /** The serving version (loaded) or the lockfile's expectation (rejected). */
  sha256?: string;
  version?: string;
  functions?: string[];
  /** Why it was rejected; or, for a loaded plugin, why its newer version was not taken. */
  reason?: string;
  code?: string;
  /** A call that outlived --call-timeout: the plugin gets no further call until a restart. */
  stuck?: { fn: string; since: string };
  /** From `inspect()`: whether the deployed file still holds the serving bytes. */
  onDisk?: DeployedState;
  onDiskReason?: string;
}

export interface LockfileState {
  status: 'accepted' | 'refused';
  path: string;
  /** The set's pinned reference, when it came from a registry. */
  ref?: string;
  /** sha256 of the accepted lockfile's bytes. */
  sha256?: string;
  /** Key ids whose signature was verified. */
  signedBy?: string[];
  /** The signed statement's serial (its signing time, ms). */
  serial?: number;
  code?: string;
  reason?: string;
  fix?: string;
}

export interface HostReport {
  trust: TrustMode;
  lockfile: LockfileState;
  plugins: PluginStatus[];
}
