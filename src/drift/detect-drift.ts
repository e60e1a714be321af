import type { DockerEngine } from '../docker/engine.js';
import type { FieldDifference } from '../errors.js';
import { fingerprintHash, type EnvironmentFingerprint } from '../env/fingerprint.js';
import type { Lockfile } from '../lock/lockfile.js';
import { type LoaderChoice, type Problem, verifyPlugins } from '../verify/verify-plugins.js';

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
}

export interface DriftReport {
  outcome: DriftOutcome;
  image: string;
  imageId: { locked: string; current: string };
  fingerprintHash: { locked: string; current: string };
  fingerprint: { locked: EnvironmentFingerprint; current: EnvironmentFingerprint };
  differences: FieldDifference[];
  plugins: PluginDrift[];
}

/** Classify the difference between a locked host and an image's current state (pure). */
export function classifyDrift(lockedImageId: string, currentImageId: string, differences: readonly FieldDifference[]): DriftOutcome {
  if (differences.length > 0) return 'breaking';
  return lockedImageId === currentImageId ? 'no-drift' : 'benign';
}

/**
 * `builder drift`: has the host image moved since the lockfile was written, does it matter,
 * and which plugins must be rebuilt — with verify's prediction of whether they would still load.
 */
export async function detectDrift(engine: DockerEngine, request: LoaderChoice & { lock: Lockfile; image: string; dir: string }): Promise<DriftReport> {
  const verdict = await verifyPlugins(engine, { ...request, pluginsPath: '/app/plugins' });
  const outcome = classifyDrift(request.lock.host.imageId, verdict.imageId, verdict.environment);
  return {
    outcome,
    image: request.image,
    imageId: { locked: request.lock.host.imageId, current: verdict.imageId },
    fingerprintHash: { locked: request.lock.host.fingerprintHash, current: fingerprintHash(verdict.fingerprint) },
    fingerprint: { locked: request.lock.host.fingerprint, current: verdict.fingerprint },
    differences: verdict.environment,
    plugins: verdict.plugins.map((p) => ({
      name: p.name,
      mustRebuild: outcome === 'breaking',
      stillLoads: p.bytes === 'missing' ? null : p.loadable,
      outcome: p.outcome,
      problems: p.problems.filter((x) => x.check !== 'environment'),
    })),
  };
}
