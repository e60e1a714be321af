import type { DockerEngine } from '../docker/engine.js';
import { managedLabels } from '../docker/engine.js';
import { ImageNotFoundError } from '../errors.js';
import { followingSymlinks, type RootFileSource } from './file-source.js';

export interface ImageFiles {
  image: string;
  imageId: string;
  files: RootFileSource;
  /** The image config's Env, as a container of it starts with. */
  env: readonly string[];
  entrypoint: readonly string[];
  /** The image config's WorkingDir ('/' when unset). */
  workingDir: string;
  cmd: readonly string[];
  /** `repo@sha256:…` for each registry the image was pushed to or pulled from. */
  repoDigests: readonly string[];
}

/**
 * Give `use` read access to an image's files through a created — never started — container,
 * so images without a shell (distroless, scratch) are read like any other. The container is
 * removed afterwards, whatever happens.
 */
export async function withImageFiles<T>(
  engine: DockerEngine,
  image: string,
  role: string,
  use: (image: ImageFiles) => Promise<T>,
): Promise<T> {
  const info = await engine.inspectImage(image);
  if (!info) throw new ImageNotFoundError(image, role);
  // Cmd is required by the API even though the container never runs.
  const container = await engine.createContainer({ image: info.id, cmd: ['/never-runs'], labels: managedLabels('probe') });
  try {
    return await use({ image, imageId: info.id, files: followingSymlinks(container), env: info.env, entrypoint: info.entrypoint, workingDir: info.workingDir ?? '/', cmd: info.cmd, repoDigests: info.repoDigests });
  } finally {
    await container.remove();
  }
}
