import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { DockerEngine } from '../docker/engine.js';
import { managedLabels } from '../docker/engine.js';
import { sizedArchive } from '../docker/sized-archive.js';
import { extractFlatFiles } from '../docker/tar-streams.js';
import { BuilderError, OutputWriteError, UnsafeArtifactError } from '../errors.js';
import { CACHE_DIR, OUTPUT_DIR, type PluginBuildPlan } from './plan-plugin-build.js';
import { SOURCE_DIR } from './sources.js';
import type { SourceFile } from './sources.js';

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
 * What a build container runs around the plan's command: the sources arrive on stdin as a tar
 * archive of exactly $1 bytes (no end-of-file is sent: see runPiped), the artifact leaves on
 * stdout as a tar archive of /out, and everything else, the compiler's stdout included, goes to
 * stderr. `head` and `tar` are in every image the builder can be made from (Debian's essential
 * set, BusyBox).
 */
const PIPED_BUILD = [
  'set -e',
  'exec 3>&1 1>&2',
  'command -v head >/dev/null 2>&1 || { echo "plugin-builder: the builder image has no head, which receives the sources" >&2; exit 125; }',
  // Whatever fails, the input is read to its end first: a container that exits with bytes of
  // it unread makes the engine reset the connection, and its message would be lost with it.
  'command -v tar >/dev/null 2>&1 || { head -c "$1" >/dev/null; echo "plugin-builder: the builder image has no tar, which receives the sources and returns the artifact" >&2; exit 125; }',
  `head -c "$1" | { tar -x -f - -C / || { status=$?; cat >/dev/null; exit $status; }; }`,
  'shift',
  '"$@" </dev/null 3>&-',
  `mkdir -p ${OUTPUT_DIR}`,
  `tar -c -f - -C / ${OUTPUT_DIR.slice(1)} >&3`,
].join('\n');

/**
 * Build one plugin in a fresh container of the builder image. Sources go in as a tar stream on
 * the container's stdin (works with a remote engine, unlike a bind mount) and the artifact comes
 * out on its stdout, over one attached connection; the artifact is checked entry by entry,
 * streamed into `stagingDir` and hashed on the way. The container is removed whatever happens,
 * cancellation included.
 */
export async function buildPlugin(
  engine: DockerEngine,
  builderImageId: string,
  plan: PluginBuildPlan,
  projectDir: string,
  sources: readonly SourceFile[],
  stagingDir: string,
  /** The project's own compiler cache volume (cache-scope.ts), mounted when the plan uses it. */
  cacheVolume?: string,
): Promise<PluginBuildOutcome> {
  const archive = await sizedArchive(projectDir, sources.map((s) => s.path), SOURCE_DIR.slice(1));
  const outDir = join(stagingDir, plan.plugin);
  await mkdir(outDir, { recursive: true }).catch((err: unknown) => {
    throw new OutputWriteError(outDir, err, 'create');
  });
  const container = await engine.createContainer({
    image: builderImageId,
    cmd: ['sh', '-c', PIPED_BUILD, 'plugin-builder', String(archive.bytes), ...plan.cmd],
    env: plan.env,
    workingDir: plan.workdir,
    stdin: true,
    ...(plan.usesCache && cacheVolume ? { volumes: [{ name: cacheVolume, target: CACHE_DIR }] } : {}),
    labels: managedLabels('build', { 'io.plugin-builder.plugin': plan.plugin }),
  });
  let failed = false;
  try {
    const run = await container.runPiped(archive.stream(), (tar) => extractArtifacts(tar, outDir));
    const output = { output: run.output, outputBytes: run.outputBytes };
    if (run.timedOut) return { ok: false, reason: 'the compile did not finish within its time limit (--compile-timeout) and was stopped', ...output };
    if (run.exitCode !== 0) return { ok: false, reason: `compiler exited with status ${run.exitCode}`, ...output };
    const written = run.consumed ?? [];
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

/** The container wrote its stdout itself: what is not a tar archive is refused like any unsafe entry. */
async function extractArtifacts(tar: Readable, outDir: string) {
  try {
    return await extractFlatFiles(tar, outDir, MAX_OUTPUT_BYTES);
  } catch (err) {
    if (err instanceof BuilderError) throw err;
    throw new UnsafeArtifactError('(stdout)', `the build container's output is not a tar archive (${err instanceof Error ? err.message : String(err)})`);
  }
}
