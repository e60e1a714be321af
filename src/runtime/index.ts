/**
 * The host runtime: verify-then-load plugins built by `builder build`. Imports koffi lazily
 * and never dockerode, so it runs inside a slim host image.
 */
export { createHostServer } from './host-server.js';
export { createKoffiLoader } from './koffi-loader.js';
export { liveFingerprint } from './live-environment.js';
export { MANIFEST_PROTOTYPE, type PluginManifest, parseManifest } from './manifest.js';
export type { NativeLibrary, NativeLoader } from './native-loader.js';
export { PluginHost, type PluginHostOptions, type PluginState, type PluginStatus } from './plugin-host.js';
export { checkArguments, parsePrototype, type Prototype, type ValueKind } from './prototype.js';
export {
  BadCallError,
  BadManifestError,
  EnvironmentMismatchError,
  HashMismatchError,
  PluginLoadError,
  UnknownPluginError,
} from '../errors.js';
export { fingerprintHash, type EnvironmentFingerprint } from '../env/fingerprint.js';
