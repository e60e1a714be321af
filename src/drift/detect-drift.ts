import type { DockerEngine } from '../docker/engine.js';
import { repoDigestFor, repositoryOf } from '../docker/image-ref.js';
import type { FieldDifference } from '../errors.js';
import { fingerprintHash, type EnvironmentFingerprint } from '../env/fingerprint.js';
import type { Lockfile } from '../lock/lockfile.js';
import { type LoaderChoice, type PluginVerdict, type Problem, type VerifyReport, verifyPlugins } from '../verify/verify-plugins.js';

export type DriftOutcome = 'no-drift' | 'benign' | 'breaking';

export interface PluginDrift {
  name: string;
  /** The runtime refuses it in the new image until it is rebuilt. */
  mustRebuild: boolean;
  /** Would the new image's loader still load the current bytes? null when unknown. */
  stillLoads: boolean | null;
  /** loads / fails / crashes (the whole process) / unknown, as verify says. */
  outcome: 'loads' | 'fails' | 'crashes' | 'unknown';
  problems: Problem[];
  /** With --real: whether the answer was proven by a real load in the image, or only predicted. */
  answer?: 'proven' | 'predicted';
  model?: PluginVerdict['model'];
}

export interface DriftReport {
  outcome: DriftOutcome;
  image: string;
  /** The image was pulled first, so "current" is what the registry serves for the reference now. */
  pulled: boolean;
  imageId: { locked: string; current: string };
  /** The image's digest in its repository (`repo@sha256:…`); null where it has none (never pushed or pulled). */
  repoDigest: { locked: string | null; current: string | null };
  fingerprintHash: { locked: string; current: string };
  fingerprint: { locked: EnvironmentFingerprint; current: EnvironmentFingerprint };
  differences: FieldDifference[];
  plugins: PluginDrift[];
  /** With --real: the program that loaded the plugins in the image, or why none did. */
  real?: VerifyReport['real'];
}

export interface DriftState {
  imageId: string;
  /** null when unknown on that side. */
  repoDigest: string | null;
}

/**
 * Classify the difference between a locked host and an image's current state (pure). The image
 * moved when its ID did, or when both sides know its digest in the same repository and the digests
 * differ (a tag now pointing elsewhere); a move matters when the environment fingerprint changed.
 */
export function classifyDrift(locked: DriftState, current: DriftState, differences: readonly FieldDifference[]): DriftOutcome {
  if (differences.length > 0) return 'breaking';
  // Digests are only comparable within one repository: another registry may compress layers differently.
  const digestMoved =
    locked.repoDigest !== null && current.repoDigest !== null && repositoryOf(locked.repoDigest) === repositoryOf(current.repoDigest) && locked.repoDigest !== current.repoDigest;
  return locked.imageId === current.imageId && !digestMoved ? 'no-drift' : 'benign';
}

export interface DriftRequest extends LoaderChoice {
  lock: Lockfile;
  /** The image reference to judge; the lockfile's `host.image` when the caller has no other. */
  image: string;
  dir: string;
  /** Pull the reference first: compare with what its registry serves now, not the engine's copy. */
  pull?: boolean;
  onPulled?: (ref: string, digestOrId: string) => void;
}

/**
 * `builder drift`: has the host image moved since the lockfile was written, does it matter,
 * and which plugins must be rebuilt — with verify's prediction of whether they would still load.
 */
export async function detectDrift(engine: DockerEngine, request: DriftRequest): Promise<DriftReport> {
  if (request.pull) {
    const pulled = await engine.pullImage(request.image, () => {});
    request.onPulled?.(request.image, repoDigestFor(request.image, pulled.repoDigests) ?? pulled.id);
  }
  const verdict = await verifyPlugins(engine, { ...request, pluginsPath: '/app/plugins' });
  const host = request.lock.host;
  const locked: DriftState = { imageId: host.imageId, repoDigest: host.repoDigest ?? null };
  const current: DriftState = { imageId: verdict.imageId, repoDigest: verdict.repoDigest ?? null };
  // A plugin that really fails to load in the image is breaking, whatever the fingerprint says.
  const realFailure = verdict.plugins.some((p) => p.real?.result === 'failed');
  const outcome = realFailure ? 'breaking' : classifyDrift(locked, current, verdict.environment);
  return {
    outcome,
    image: request.image,
    pulled: request.pull === true,
    imageId: { locked: locked.imageId, current: current.imageId },
    repoDigest: { locked: locked.repoDigest, current: current.repoDigest },
    fingerprintHash: { locked: host.fingerprintHash, current: fingerprintHash(verdict.fingerprint) },
    fingerprint: { locked: host.fingerprint, current: verdict.fingerprint },
    differences: verdict.environment,
    plugins: verdict.plugins.map((p) => ({
      name: p.name,
      mustRebuild: verdict.environment.length > 0 || p.real?.result === 'failed',
      stillLoads: p.bytes === 'missing' ? null : p.loadable,
      outcome: p.outcome,
      problems: p.problems.filter((x) => x.check !== 'environment'),
      ...(p.answer ? { answer: p.answer } : {}),
      ...(p.model ? { model: p.model } : {}),
    })),
    ...(verdict.real ? { real: verdict.real } : {}),
  };
}
