import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DockerEngine } from '../docker/engine.js';
import { managedLabels } from '../docker/engine.js';
import { extractFlatFiles, packFiles } from '../docker/tar-streams.js';
import { OutputWriteError } from '../errors.js';
import { CACHE_DIR, OUTPUT_DIR, type PluginBuildPlan, SOURCE_DIR } from './plan-plugin-build.js';
import type { SourceFile } from './sources.js';

/** The named volume holding GOCACHE and ccache between builds. */
export const CACHE_VOLUME = 'plugin-builder-cache';

// A plugin larger than this is almost certainly a runaway build, not a plugin.
const MAX_OUTPUT_BYTES = 1024 * 1024 * 1024;

/** The end of the compiler's output, and how much there was. */
export interface BuildOutput {
  output: string;
  outputBytes: number;
}

export type PluginBuildOutcome =
  | ({ ok: true; path: string; sha256: string; size: number } & BuildOutput)
  | ({ ok: false; reason: string } & BuildOutput);

/**
 * Build one plugin in a fresh container of the builder image. Sources go in as a tar
 * stream (works with a remote DOCKER_HOST, unlike a bind mount); the artifact comes out
 * through the archive API into `stagingDir`, checked entry by entry, streamed to disk and
 * hashed on the way. The container is removed whatever happens, cancellation included.
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
  let failed = false;
  try {
    // Docker's archive API needs an existing directory: unpack at / with names under src/.
    const files = sources.map((s) => s.path);
    await container.putArchive(packFiles(projectDir, files, SOURCE_DIR.slice(1)), '/');
    const run = await container.run();
    const output = { output: run.output, outputBytes: run.outputBytes };
    if (run.timedOut) return { ok: false, reason: 'the compile did not finish within its time limit (--compile-timeout) and was stopped', ...output };
    if (run.exitCode !== 0) return { ok: false, reason: `compiler exited with status ${run.exitCode}`, ...output };
    const outDir = join(stagingDir, plan.plugin);
    await mkdir(outDir, { recursive: true }).catch((err: unknown) => {
      throw new OutputWriteError(outDir, err, 'create');
    });
    const written = await container.readArchive(OUTPUT_DIR, (tar) => extractFlatFiles(tar, outDir, MAX_OUTPUT_BYTES));
    const artifact = written.find((f) => f.name === plan.file);
    if (!artifact) {
      return { ok: false, reason: `the build produced no ${plan.file} (found: ${written.map((f) => f.name).join(', ') || 'nothing'})`, ...output };
    }
    return { ok: true, path: join(outDir, plan.file), sha256: artifact.sha256, size: artifact.size, ...output };
  } catch (err) {
    failed = true;
    throw err;
  } finally {
    // After a failure the removal may fail too (the engine is gone): the first error is the one to tell.
    await container.remove().catch((err: unknown) => {
      if (!failed) throw err;
    });
  }
}
