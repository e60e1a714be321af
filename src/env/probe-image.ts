import type { DockerEngine } from '../docker/engine.js';
import { managedLabels } from '../docker/engine.js';
import { ImageNotFoundError, ProbeError } from '../errors.js';
import { followingSymlinks } from './file-source.js';
import type { EnvironmentFingerprint } from './fingerprint.js';
import { ProbeFailure, probeEnvironment } from './probe-environment.js';

export interface ProbedImage {
  image: string;
  imageId: string;
  fingerprint: EnvironmentFingerprint;
}

/**
 * Fingerprint an image by reading files out of a created — never started — container, so
 * images without a shell (distroless) probe the same as any other.
 */
export async function probeImage(engine: DockerEngine, image: string, role: string): Promise<ProbedImage> {
  const info = await engine.inspectImage(image);
  if (!info) throw new ImageNotFoundError(image, role);
  // Cmd is required by the API even though the container never runs.
  const container = await engine.createContainer({ image: info.id, cmd: ['/probe-never-runs'], labels: managedLabels('probe') });
  try {
    const fingerprint = await probeEnvironment(followingSymlinks(container));
    return { image, imageId: info.id, fingerprint };
  } catch (err) {
    if (err instanceof ProbeFailure) throw new ProbeError(`${role} image ${image}`, err.message);
    throw err;
  } finally {
    await container.remove();
  }
}
