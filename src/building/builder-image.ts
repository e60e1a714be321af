import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DockerEngine, ImageInfo } from '../docker/engine.js';
import { managedLabels } from '../docker/engine.js';
import { ImagePullError } from '../errors.js';
import { cachedBuilderRef, cachedBuilderProblem } from './builder-cache.js';
import { canonicalJson } from '../util/canonical-json.js';
import { sha256Hex } from '../util/sha256.js';

export const BUILDER_REPOSITORY = 'plugin-builder/builder';
const CONTEXT_FILES = ['Dockerfile.builder', 'images/install-toolchain.sh', 'images/load-prober.c'];

export interface BuilderImageRequest {
  /** Image ID of the base (the host image, or builder.base). */
  baseImageId: string;
  packages: readonly string[];
  /** The builds' C compiler, which also compiles the proof's load-prober. */
  cc?: 'gcc' | 'musl-gcc';
  /** Where Dockerfile.builder and images/ live (the package root). */
  recipeDir: string;
}

export interface BuilderImage extends ImageInfo {
  tag: string;
  /** reused: found on the engine; pulled: from the --cache-from repository; built: here, now. */
  source: 'reused' | 'pulled' | 'built';
}

/** Where builder images are shared between machines (repositories, see builder-cache.ts). */
export interface BuilderCacheOptions {
  from?: string;
  to?: string;
}

/** What the cache did, for the progress lines: a miss is worth saying (why the build takes longer). */
export type BuilderCacheEvent =
  | { type: 'pulled'; ref: string; seconds: number }
  | { type: 'miss'; ref: string; reason: string }
  | { type: 'pushed'; ref: string; digest: string; seconds: number };

/** The tag names the inputs, so an unchanged builder is found instead of rebuilt. */
export async function builderImageTag(request: BuilderImageRequest): Promise<string> {
  const recipe = await Promise.all(CONTEXT_FILES.map(async (f) => [f, sha256Hex(await readFile(join(request.recipeDir, f)))]));
  const inputs = canonicalJson({ base: request.baseImageId, packages: [...request.packages].sort(), recipe, cc: request.cc ?? 'gcc' });
  return `${BUILDER_REPOSITORY}:${sha256Hex(inputs).slice(0, 20)}`;
}

/** `builder plan` looks without making anything: the builder image these inputs need is not on the engine. */
export class BuilderImageAbsent extends Error {
  constructor(readonly tag: string) {
    super(`the builder image ${tag} is not on the engine`);
  }
}

/**
 * The builder image for these inputs: the engine's, else the cache's (checked to derive from
 * the base), else built. A cache never fails a build by missing or being unreachable — it only
 * costs the apt run it would have saved; pushing to --cache-to was asked for, so its failure is
 * an error.
 */
export async function ensureBuilderImage(
  engine: DockerEngine,
  request: BuilderImageRequest,
  onOutput: (line: string) => void,
  cache: BuilderCacheOptions & { onEvent?: (event: BuilderCacheEvent) => void; now?: () => number; inspectOnly?: boolean } = {},
): Promise<BuilderImage> {
  const tag = await builderImageTag(request);
  const now = cache.now ?? Date.now;
  let image: BuilderImage | null = null;
  const existing = await engine.inspectImage(tag);
  if (existing) image = { ...existing, tag, source: 'reused' };
  if (!image && cache.inspectOnly) throw new BuilderImageAbsent(tag);
  if (!image && cache.from) image = await pullCached(engine, request, tag, cache.from, now, cache.onEvent);
  if (!image) image = { ...(await buildHere(engine, request, tag, onOutput)), tag, source: 'built' };
  if (cache.to && !(image.source === 'pulled' && cache.to === cache.from)) {
    const ref = cachedBuilderRef(cache.to, tag);
    const started = now();
    await engine.tagImage(image.id, ref);
    try {
      const digest = await engine.pushImage(ref, () => {});
      cache.onEvent?.({ type: 'pushed', ref, digest, seconds: (now() - started) / 1000 });
    } finally {
      await engine.removeImage(ref);
    }
  }
  return image;
}

async function pullCached(
  engine: DockerEngine,
  request: BuilderImageRequest,
  tag: string,
  repository: string,
  now: () => number,
  onEvent: ((event: BuilderCacheEvent) => void) | undefined,
): Promise<BuilderImage | null> {
  const ref = cachedBuilderRef(repository, tag);
  const started = now();
  let pulled: ImageInfo;
  try {
    pulled = await engine.pullImage(ref, () => {});
  } catch (err) {
    // Not there yet, or the registry is away: build as if there were no cache. An engine that
    // stopped answering is not a cache miss, and the build would fail on it next anyway.
    if (!(err instanceof ImagePullError)) throw err;
    onEvent?.({ type: 'miss', ref, reason: err.message });
    return null;
  }
  const base = await engine.inspectImage(request.baseImageId);
  const problem = base ? cachedBuilderProblem(pulled, base) : 'the base image is gone from the engine';
  if (problem) {
    await engine.removeImage(ref);
    onEvent?.({ type: 'miss', ref, reason: `refused the cached image: ${problem}` });
    return null;
  }
  await engine.tagImage(pulled.id, tag);
  await engine.removeImage(ref);
  onEvent?.({ type: 'pulled', ref, seconds: (now() - started) / 1000 });
  return { ...pulled, tag, source: 'pulled' };
}

function buildHere(engine: DockerEngine, request: BuilderImageRequest, tag: string, onOutput: (line: string) => void): Promise<ImageInfo> {
  return engine.buildImage(
    {
      contextDir: request.recipeDir,
      files: CONTEXT_FILES,
      dockerfile: 'Dockerfile.builder',
      tag,
      // FROM the base's ID, not its tag: the builder must derive from exactly the image probed.
      buildArgs: { BASE: request.baseImageId, PACKAGES: request.packages.join(' '), CC: request.cc ?? 'gcc' },
      labels: managedLabels('builder', { 'io.plugin-builder.base': request.baseImageId }),
    },
    onOutput,
  );
}
