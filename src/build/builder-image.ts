import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DockerEngine, ImageInfo } from '../docker/engine.js';
import { managedLabels } from '../docker/engine.js';
import { canonicalJson } from '../util/canonical-json.js';
import { sha256Hex } from '../util/sha256.js';

export const BUILDER_REPOSITORY = 'plugin-builder/builder';
const CONTEXT_FILES = ['Dockerfile.builder', 'images/install-toolchain.sh'];

export interface BuilderImageRequest {
  /** Image ID of the base (the host image, or builder.base). */
  baseImageId: string;
  packages: readonly string[];
  /** Where Dockerfile.builder and images/ live (the package root). */
  recipeDir: string;
}

export interface BuilderImage extends ImageInfo {
  tag: string;
  /** True when an image with the same inputs existed and was reused. */
  reused: boolean;
}

/** The tag names the inputs, so an unchanged builder is found instead of rebuilt. */
export async function builderImageTag(request: BuilderImageRequest): Promise<string> {
  const recipe = await Promise.all(CONTEXT_FILES.map(async (f) => [f, sha256Hex(await readFile(join(request.recipeDir, f)))]));
  const inputs = canonicalJson({ base: request.baseImageId, packages: [...request.packages].sort(), recipe });
  return `${BUILDER_REPOSITORY}:${sha256Hex(inputs).slice(0, 20)}`;
}

export async function ensureBuilderImage(
  engine: DockerEngine,
  request: BuilderImageRequest,
  onOutput: (line: string) => void,
): Promise<BuilderImage> {
  const tag = await builderImageTag(request);
  const existing = await engine.inspectImage(tag);
  if (existing) return { ...existing, tag, reused: true };
  const built = await engine.buildImage(
    {
      contextDir: request.recipeDir,
      files: CONTEXT_FILES,
      dockerfile: 'Dockerfile.builder',
      tag,
      // FROM the base's ID, not its tag: the builder must derive from exactly the image probed.
      buildArgs: { BASE: request.baseImageId, PACKAGES: request.packages.join(' ') },
      labels: managedLabels('builder', { 'io.plugin-builder.base': request.baseImageId }),
    },
    onOutput,
  );
  return { ...built, tag, reused: false };
}
