import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { DockerEngine } from '../docker/engine.js';
import { managedLabels } from '../docker/engine.js';
import { extractFlatFiles, packFiles } from '../docker/tar-streams.js';
import { sha256FileHex } from '../util/sha256.js';
import { CACHE_DIR, OUTPUT_DIR, type PluginBuildPlan, SOURCE_DIR } from './plan-plugin-build.js';

/** The named volume holding GOCACHE and ccache between builds. */
export const CACHE_VOLUME = 'plugin-builder-cache';
import type { SourceFile } from './sources.js';

// A plugin larger than this is almost certainly a runaway build, not a plugin.
const MAX_OUTPUT_BYTES = 1024 * 1024 * 1024;

export type PluginBuildOutcome =
  | { ok: true; path: string; sha256: string; size: number; output: string }
  | { ok: false; reason: string; output: string };

/**
 * Build one plugin in a fresh container of the builder image. Sources go in as a tar
 * stream (works with a remote DOCKER_HOST, unlike a bind mount); the artifact comes out
 * through the archive API into `stagingDir`, checked entry by entry.
 */
export async function buildPlugin(
  engine: DockerEngine,
  builderImageId: string,
  plan: PluginBuildPlan,
  projectDir: string,
  sources: readonly SourceFile[],
  stagingDir: string,
): Promise<PluginBuildOutcome> {
  const container = await engine.createContainer({
    image: builderImageId,
    cmd: plan.cmd,
    env: plan.env,
    workingDir: plan.workdir,
    ...(plan.usesCache ? { volumes: [{ name: CACHE_VOLUME, target: CACHE_DIR }] } : {}),
    labels: managedLabels('build', { 'io.plugin-builder.plugin': plan.plugin }),
  });
  try {
    // Docker's archive API needs an existing directory: unpack at / with names under src/.
    const files = sources.map((s) => s.path);
    await container.putArchive(packFiles(projectDir, files, SOURCE_DIR.slice(1)), '/');
    const run = await container.run();
    if (run.exitCode !== 0) return { ok: false, reason: `compiler exited with status ${run.exitCode}`, output: run.output };
    const outDir = join(stagingDir, plan.plugin);
    await mkdir(outDir, { recursive: true });
    const written = await extractFlatFiles(await container.getArchive(OUTPUT_DIR), outDir, MAX_OUTPUT_BYTES);
    if (!written.includes(plan.file)) {
      return { ok: false, reason: `the build produced no ${plan.file} (found: ${written.join(', ') || 'nothing'})`, output: run.output };
    }
    const path = join(outDir, plan.file);
    const [sha256, info] = await Promise.all([sha256FileHex(path), stat(path)]);
    return { ok: true, path, sha256, size: info.size, output: run.output };
  } finally {
    await container.remove();
  }
}
