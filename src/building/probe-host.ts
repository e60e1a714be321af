import type { ProjectConfig } from '../config/config.js';
import type { DockerEngine } from '../docker/engine.js';
import { withImageFiles } from '../env/image-files.js';
import { type ProbedImage, probeFiles } from '../env/probe-image.js';
import { type GoHostBinary, readGoBinary } from '../gomod/read-go-binary.js';
import { goFingerprint } from '../gomod/go-fingerprint.js';

export interface ProbedHost extends ProbedImage {
  binary?: string;
  /** `repo@sha256:…` of the host image in the configured reference's repository, when it has one. */
  repoDigest?: string;
  /** The Go host executable's build info (config host.binary). */
  goBuildInfo: GoHostBinary | null;
}

/** The host image's fingerprint; with host.binary, including the Go host's version, settings and modules. */
export async function probeHost(engine: DockerEngine, config: Pick<ProjectConfig, 'hostImage' | 'hostBinary'>): Promise<ProbedHost> {
  return withImageFiles(engine, config.hostImage, 'host', async ({ imageId, files }) => {
    const fingerprint = await probeFiles(files, `host image ${config.hostImage}`);
    if (!config.hostBinary) return { image: config.hostImage, imageId, fingerprint, goBuildInfo: null };
    const goBuildInfo = await readGoBinary(files, config.hostImage, config.hostBinary);
    return {
      image: config.hostImage,
      imageId,
      binary: config.hostBinary,
      fingerprint: { ...fingerprint, go: goFingerprint(goBuildInfo) },
      goBuildInfo,
    };
  });
}
