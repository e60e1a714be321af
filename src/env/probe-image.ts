import type { DockerEngine } from '../docker/engine.js';
import { ProbeError } from '../errors.js';
import type { RootFileSource } from './file-source.js';
import type { EnvironmentFingerprint } from './fingerprint.js';
import { withImageFiles } from './image-files.js';
import { type ProbeOptions, ProbeFailure, probeEnvironment } from './probe-environment.js';

export interface ProbedImage {
  image: string;
  imageId: string;
  fingerprint: EnvironmentFingerprint;
}

/** The fingerprint of a root filesystem, with probe failures named after their subject. */
export async function probeFiles(files: RootFileSource, subject: string, options: ProbeOptions = {}): Promise<EnvironmentFingerprint> {
  try {
    return await probeEnvironment(files, options);
  } catch (err) {
    if (err instanceof ProbeFailure) throw new ProbeError(subject, err.message);
    throw err;
  }
}

/** Fingerprint an image from its files alone (see withImageFiles). */
export function probeImage(engine: DockerEngine, image: string, role: string, options: ProbeOptions = {}): Promise<ProbedImage> {
  return withImageFiles(engine, image, role, async ({ imageId, files }) => ({
    image,
    imageId,
    fingerprint: await probeFiles(files, `${role} image ${image}`, options),
  }));
}
