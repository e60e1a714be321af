import { platformTargets, type ProjectConfig } from '../config/config.js';
import type { DockerEngine } from '../docker/engine.js';
import type { ProbeCache } from '../env/probe-cache.js';
import type { BuildReporter } from './build-events.js';
import { resolveEnvironment } from './resolve-environment.js';

export interface PreparedBuilder {
  /** With host.platforms: the platform this builder is for. */
  platform?: string;
  host: { image: string; imageId: string; repoDigest?: string };
  builder: { image: string; imageId: string; source: 'reused' | 'pulled' | 'built'; toolchain: Record<string, string> };
}

/**
 * `builder prepare`: everything `builder build` does before compiling — probe the host, get the
 * builder image (engine, --cache-from, or built) and check it, push it with --cache-to — and
 * nothing after: no plugin, no lockfile. The first job of a sharded CI run, so every shard
 * compiles in the very same builder image.
 */
export async function prepareBuilder(
  engine: DockerEngine,
  config: ProjectConfig,
  options: { pull?: boolean; cacheFrom?: string; cacheTo?: string },
  ctx: { report: BuildReporter; recipeDir: string; probeCache?: ProbeCache; now?: () => number },
): Promise<PreparedBuilder[]> {
  await engine.ping();
  const prepared: PreparedBuilder[] = [];
  for (const target of platformTargets(config)) {
    prepared.push({ ...(target.platform ? { platform: target.platform } : {}), ...(await prepareOne(engine, target.config, options, { ...ctx, ...(target.platform ? { platform: target.platform } : {}) })) });
  }
  return prepared;
}

async function prepareOne(
  engine: DockerEngine,
  config: ProjectConfig,
  options: { pull?: boolean; cacheFrom?: string; cacheTo?: string },
  ctx: { report: BuildReporter; recipeDir: string; probeCache?: ProbeCache; now?: () => number; platform?: string },
): Promise<PreparedBuilder> {
  const env = await resolveEnvironment(engine, config, {
    ...(ctx.platform ? { platform: ctx.platform } : {}),
    report: ctx.report,
    recipeDir: ctx.recipeDir,
    now: ctx.now ?? Date.now,
    ...(ctx.probeCache ? { probeCache: ctx.probeCache } : {}),
    pull: options.pull === true,
    builderCache: { ...(options.cacheFrom ? { from: options.cacheFrom } : {}), ...(options.cacheTo ? { to: options.cacheTo } : {}) },
  });
  return {
    host: { image: env.host.image, imageId: env.host.imageId, ...(env.host.repoDigest ? { repoDigest: env.host.repoDigest } : {}) },
    builder: { image: env.builderImage.tag, imageId: env.builderImage.id, source: env.builderImage.source, toolchain: env.toolchain },
  };
}
