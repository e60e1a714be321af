import { basename, dirname } from 'node:path';
import type { ProjectConfig } from '../config/config.js';
import { fingerprintHash } from '../env/fingerprint.js';
import { LOCKFILE_VERSION, type LockedPlugin, type LockedProof, type Lockfile } from '../lock/lockfile.js';
import { verifyPlugins } from '../verify/verify-plugins.js';
import type { DockerEngine } from '../docker/engine.js';
import { ImageNotFoundError } from '../errors.js';
import { chooseProofProgram, describeProofProgram, type ProofProgram } from '../proof/proof-program.js';
import { LOAD_PROBER_PATH } from '../proof/load-prober.js';
import { proberFor } from '../proof/prober-for.js';
import { type ProofArtifact, ProofUnavailableError, proveLoads } from '../proof/prove-loads.js';
import type { BuildReporter } from './build-events.js';
import type { BuildEnvironment } from './resolve-environment.js';

export interface ArtifactToProve extends ProofArtifact {
  /** The proof the lockfile has for it (an unchanged artifact keeps one made on this same host image). */
  locked?: LockedProof;
}

export interface ProofOutcome {
  proof: LockedProof;
  /** The loader's own words when the real load failed. */
  failure?: string;
}

/**
 * An artifact needs a proof unless the lockfile has one for these exact bytes made on this very
 * host image by this very loading program (a `host.loader` added since is a new proof).
 */
export function needsProof(locked: LockedProof | undefined, hostImageId: string, program?: string): boolean {
  return !(locked?.result === 'loaded' && locked.imageId === hostImageId && (program === undefined || locked.program === program));
}

/** The loading program that proves artifacts for this host image, and how the lockfile names it. */
export async function proofProgramFor(
  engine: DockerEngine,
  config: Pick<ProjectConfig, 'hostLoader' | 'hostBinary'>,
  host: Pick<BuildEnvironment['host'], 'imageId' | 'goBuildInfo'>,
): Promise<{ program: ProofProgram; described: string } | { program: { kind: 'none'; reason: string }; described: null }> {
  const image = await engine.inspectImage(host.imageId);
  if (!image) throw new ImageNotFoundError(host.imageId, 'host');
  const program = chooseProofProgram({
    ...(config.hostLoader ? { loader: config.hostLoader } : {}),
    ...(config.hostBinary ? { hostBinary: config.hostBinary } : {}),
    ...(host.goBuildInfo ? { goDeps: host.goBuildInfo.deps } : {}),
    entrypoint: image.entrypoint,
    cmd: image.cmd,
  });
  return program.kind === 'none' ? { program, described: null } : { program, described: describeProofProgram(program) };
}

/**
 * The build's proof step: every artifact that needs one is loaded for real in a container of the
 * host image by the host's own loading program (src/proof/); the others keep their locked proof.
 * `--no-prove` records that it was skipped. Verdicts by plugin name.
 */
export async function proveArtifacts(
  engine: DockerEngine,
  config: Pick<ProjectConfig, 'hostLoader' | 'hostBinary'>,
  env: Pick<BuildEnvironment, 'host' | 'builder'>,
  artifacts: readonly ArtifactToProve[],
  options: { prove: boolean; limitMs?: number; cCompiler?: 'gcc' | 'musl-gcc'; report: BuildReporter },
): Promise<Map<string, ProofOutcome>> {
  const outcomes = new Map<string, ProofOutcome>();
  const hostImageId = env.host.imageId;
  const { program, described } = await proofProgramFor(engine, config, env.host);
  if (!options.prove) {
    // An unchanged artifact keeps the proof it has for this host image: skipping a proof takes nothing away.
    for (const a of artifacts) outcomes.set(a.name, { proof: needsProof(a.locked, hostImageId, described ?? undefined) ? { result: 'not-proven', reason: 'built with --no-prove' } : a.locked! });
    return outcomes;
  }
  const todo = artifacts.filter((a) => needsProof(a.locked, hostImageId, described ?? undefined));
  for (const a of artifacts) if (!todo.includes(a)) outcomes.set(a.name, { proof: a.locked! });
  if (todo.length === 0) return outcomes;
  if (program.kind === 'none') {
    options.report({ type: 'step', message: `WARNING: not proven (the model's prediction is all there is): ${program.reason}` });
    for (const a of todo) outcomes.set(a.name, { proof: { result: 'not-proven', reason: program.reason } });
    return outcomes;
  }
  options.report({ type: 'step', message: `proving ${todo.length} artifact(s) load in ${env.host.image} (${hostImageId.slice(7, 19)}) by ${described}` });
  const started = Date.now();
  if (program.kind === 'go-prober') options.report({ type: 'step', message: `${program.binary} does not use pluginhost: building the proof's Go prober with its Go release and settings` });
  const prober = await proberFor(engine, program, { builderImageId: env.builder.imageId, goSettings: env.host.fingerprint.go?.settings ?? {}, cCompiler: options.cCompiler ?? 'gcc' });
  if (prober === null) {
    throw new ProofUnavailableError(`The builder image ${env.builder.imageId.slice(0, 19)} has no ${LOAD_PROBER_PATH} (it was made by an older Dockerfile.builder).`, `Remove it (docker rmi ${env.builder.imageId.slice(7, 19)}) so the build makes it again, or build with --no-prove.`);
  }
  const verdicts = await proveLoads(engine, { imageId: hostImageId, program, artifacts: todo, ...(prober ? { prober } : {}), ...(options.limitMs ? { limitMs: options.limitMs } : {}) });
  options.report({ type: 'step', message: `proof done in ${((Date.now() - started) / 1000).toFixed(1)} s: ${[...verdicts.values()].filter((v) => v.result === 'loaded').length} of ${todo.length} loaded` });
  for (const a of todo) {
    const verdict = verdicts.get(a.name)!;
    outcomes.set(
      a.name,
      verdict.result === 'loaded'
        ? { proof: { result: 'loaded', imageId: hostImageId, program: described! } }
        : { proof: { result: 'not-proven', reason: 'the real load failed' }, failure: verdict.message ?? 'failed' },
    );
  }
  return outcomes;
}

/**
 * MODEL_DISAGREES at build time: for an artifact whose real load failed, what the model
 * (`builder verify`) predicted for it in the same image. A prediction of "loads" is a model bug
 * — the real load wins — and the build says so beside the loader's words. Best effort: the
 * explanation never changes the verdict, and a model that cannot run says nothing.
 */
export async function modelDisagreement(
  engine: DockerEngine,
  env: Pick<BuildEnvironment, 'host' | 'builder'>,
  artifact: { name: string; kind: LockedPlugin['kind']; file: string; path: string; sha256: string; size: number },
  failure: string,
): Promise<string | null> {
  try {
    const lock: Lockfile = {
      lockfileVersion: LOCKFILE_VERSION,
      host: { image: env.host.imageId, imageId: env.host.imageId, ...(env.host.binary ? { binary: env.host.binary } : {}), fingerprint: env.host.fingerprint, fingerprintHash: fingerprintHash(env.host.fingerprint) },
      builder: { image: env.builder.imageId, imageId: env.builder.imageId, fingerprint: env.builder.fingerprint, fingerprintHash: fingerprintHash(env.builder.fingerprint), toolchain: {} },
      plugins: { [artifact.name]: { kind: artifact.kind, file: basename(artifact.path), sha256: artifact.sha256, size: artifact.size, inputsHash: `sha256:${'0'.repeat(64)}` } },
    };
    const report = await verifyPlugins(engine, { lock, image: env.host.imageId, dir: dirname(artifact.path), pluginsPath: '/app/plugins' });
    const verdict = report.plugins[0];
    if (!verdict || verdict.outcome !== 'loads') return null;
    // A process that died or hung in the load ran the plugin's own code: no loader rule predicts what that code does.
    const ownCode = /the loading process (was killed|exited|did not finish)/.test(failure);
    return `MODEL_DISAGREES: the model (builder verify) predicted it loads; the real load wins${ownCode ? ' (the loader accepted it; its own code then failed, which no loader rule predicts)' : ' — a model bug, please report it'}`;
  } catch {
    return null;
  }
}
