/** Library API: the build pipeline's pieces for programs that drive builder themselves. */
export { buildProject, type BuildContext } from './building/build-project.js';
export type { BuildReport, PluginReport } from './building/build-report.js';
export type { BuildEvent, BuildReporter } from './building/build-events.js';
export { loadConfig } from './config/load-config.js';
export { validateConfig } from './config/validate-config.js';
export type { PluginConfig, ProjectConfig } from './config/config.js';
export { DockerodeEngine } from './docker/dockerode-engine.js';
export type { DockerEngine } from './docker/engine.js';
export { diffFingerprints, fingerprintHash, type EnvironmentFingerprint } from './env/fingerprint.js';
export { probeImage, type ProbedImage } from './env/probe-image.js';
export { probeEnvironment } from './env/probe-environment.js';
export { parseLockfile, serializeLockfile, type Lockfile, type LockedPlugin } from './lock/lockfile.js';
export { readLockfile, writeLockfile } from './lock/lockfile-io.js';
export * from './errors.js';
export * as runtime from './runtime/index.js';
export * as trust from './trust/index.js';
