/**
 * The host runtime: verify-then-load plugins built by `builder build`. Imports koffi lazily
 * and never dockerode, so it runs inside a slim host image.
 */
export { createHostServer, type HostServerOptions } from './host-server.js';
export { isLoopback, listen, shutdownGracefully } from './host-service.js';
export { createKoffiLoader, createMemfdSyscalls } from './koffi-native.js';
export { createSealer, type SealingChoice } from './create-sealer.js';
export { type Canary, childProcessCanary } from './child-canary.js';
export { FileSealer } from './file-sealer.js';
export { MemfdSealer, type MemfdSyscalls } from './memfd-sealer.js';
export type { SealedCopy, Sealer } from './sealer.js';
export { liveFingerprint } from './live-environment.js';
export { RegistrySource, type RegistrySourceOptions, readReference } from './registry-source.js';
export { loadTrustedKeys } from './trust-store.js';
export { MANIFEST_PROTOTYPE, type PluginManifest, parseManifest } from './manifest.js';
export type { NativeLibrary, NativeLoader } from './native-loader.js';
export {
  DEFAULT_HOST_LIMITS,
  PluginHost,
  type HostLimits,
  type HostReport,
  type LockfileState,
  type PluginHostOptions,
  type PluginSource,
  type PluginState,
  type PluginStatus,
  type TrustMode,
} from './plugin-host.js';
export { parsePrototype, type Prototype, type ValueKind } from './prototype.js';
export { convertArguments, resultToJson } from './call-values.js';
export { UnsafeFileError } from '../util/safe-file.js';
export {
  BadCallError,
  BadManifestError,
  EnvironmentMismatchError,
  HashMismatchError,
  LockfileRefusedError,
  PluginLoadError,
  ReloadTimeoutError,
  UnknownPluginError,
} from '../errors.js';
export { TrustError } from '../trust/trust-error.js';
export { fingerprintHash, type EnvironmentFingerprint } from '../env/fingerprint.js';
