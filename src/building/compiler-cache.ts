import type { Readable } from 'node:stream';
import * as tarStream from 'tar-stream';
import type { ContainerHandle, DockerEngine } from '../docker/engine.js';
import { managedLabels, ROLE_LABEL } from '../docker/engine.js';
import { BuilderError, ImagePullError } from '../errors.js';
import { CacheArchiveError, type CacheArchiveSummary, filterCacheArchive } from './compiler-cache-archive.js';
import { CACHE_DIR } from './plan-plugin-build.js';

/**
 * The compiler cache volume (ccache, GOCACHE) shipped through the --cache-from / --cache-to
 * repository beside the builder image, so a fresh CI runner compiles with the last run's cache.
 * It travels as a one-layer image, `REPO:<builder input hash>-compiler-cache`: the registry
 * stores images, and the tag ties it to the toolchain that filled it.
 *
 * Trust: a compiler cache answers "what object does this input make", so whoever can push to the
 * repository can change what gets linked. It is trusted exactly as far as the builder image from
 * the same repository is — give --cache-from only a repository your CI alone can push to. What is
 * checked is its shape: only the data files of ccache and Go inside the cache directory, as
 * 0644 files in 0755 directories (compiler-cache-archive.ts), within size limits; it is restored
 * only into this project's own, empty volume (cache-scope.ts). `--check` never uses it.
 */

const TOP = CACHE_DIR.slice(1);
const LIMITS = { top: TOP, maxBytes: 16 * 2 ** 30, maxEntries: 2_000_000 };
const CACHE_ROLE = 'compiler-cache';

export type CompilerCacheEvent =
  | { type: 'restored'; ref: string; files: number; bytes: number; skipped: number; skippedNames: string[]; seconds: number }
  | { type: 'kept'; reason: string }
  | { type: 'miss'; ref: string; reason: string }
  | { type: 'pushed'; refs: string[]; digest: string; files: number; bytes: number; skipped: number; skippedNames: string[]; seconds: number };

/** `REPO:<builder input hash>-compiler-cache`. */
export function compilerCacheRef(repository: string, builderTag: string): string {
  return `${repository}:${builderTag.slice(builderTag.lastIndexOf(':') + 1)}-compiler-cache`;
}

/**
 * A container of `image` with the cache volume mounted, removed after `use`. Unless `use` runs it,
 * it is never started: the archive API reads and writes the volume as it is.
 */
async function withVolumeContainer<T>(engine: DockerEngine, image: string, volume: string, use: (container: ContainerHandle) => Promise<T>, cmd: readonly string[] = ['true']): Promise<T> {
  const container = await engine.createContainer({
    image,
    cmd,
    volumes: [{ name: volume, target: CACHE_DIR }],
    labels: managedLabels('compiler-cache'),
  });
  try {
    return await use(container);
  } finally {
    await container.remove();
  }
}

/** Whether the archive of the cache directory holds anything besides the directory itself. */
async function hasEntries(tar: Readable): Promise<boolean> {
  const entries = tarStream.extract();
  tar.pipe(entries);
  let seen = 0;
  for await (const entry of entries) {
    entry.resume();
    if (++seen > 1) return true;
  }
  return false;
}

/**
 * With --cache-from: fill an empty cache volume from the repository. A volume that has content is
 * kept (it is this machine's own, at least as warm); a miss or a refused archive only costs the
 * compiles it would have saved. An engine that stops answering fails the build as always.
 */
export async function restoreCompilerCache(
  engine: DockerEngine,
  builderImageId: string,
  volume: string,
  repository: string,
  builderTag: string,
  ctx: { now: () => number; onEvent: (event: CompilerCacheEvent) => void },
): Promise<void> {
  const ref = compilerCacheRef(repository, builderTag);
  const started = ctx.now();
  await withVolumeContainer(engine, builderImageId, volume, async (target) => {
    if (await target.readArchive(CACHE_DIR, hasEntries)) {
      ctx.onEvent({ type: 'kept', reason: `the ${volume} volume already holds a cache` });
      return;
    }
    let image;
    try {
      image = await engine.pullImage(ref, () => {});
    } catch (err) {
      if (!(err instanceof ImagePullError)) throw err;
      ctx.onEvent({ type: 'miss', ref, reason: err.message });
      return;
    }
    try {
      if (image.labels[ROLE_LABEL] !== CACHE_ROLE) {
        ctx.onEvent({ type: 'miss', ref, reason: `refused: it is not a plugin-builder compiler cache (label ${ROLE_LABEL} is ${JSON.stringify(image.labels[ROLE_LABEL] ?? null)})` });
        return;
      }
      const source = await engine.createContainer({ image: image.id, cmd: ['none'], labels: managedLabels('compiler-cache') });
      try {
        const summary = await source.readArchive(CACHE_DIR, async (tar) => {
          const { stream, done } = filterCacheArchive(tar, LIMITS);
          await Promise.all([target.putArchive(stream, '/'), done]);
          return done;
        });
        ctx.onEvent({ type: 'restored', ref, ...summary, seconds: (ctx.now() - started) / 1000 });
      } catch (err) {
        if (!(err instanceof CacheArchiveError)) throw err;
        // What was unpacked before the bad entry goes: a half-refused cache is not kept.
        await emptyVolume(engine, builderImageId, volume);
        ctx.onEvent({ type: 'miss', ref, reason: `refused the archive: entry ${err.message}` });
      } finally {
        await source.remove();
      }
    } finally {
      await engine.removeImage(ref);
    }
  });
}

async function emptyVolume(engine: DockerEngine, builderImageId: string, volume: string): Promise<void> {
  await withVolumeContainer(
    engine,
    builderImageId,
    volume,
    async (container) => {
      const run = await container.run();
      if (run.exitCode !== 0) throw new Error(`emptying the ${volume} volume failed: ${run.output}`);
    },
    ['sh', '-c', `find ${CACHE_DIR} -mindepth 1 -delete`],
  );
}

/**
 * With --cache-to: the cache volume as an image, tagged for each builder (one per platform), pushed.
 * The local tags go once pushed. Nothing is read into memory: the volume's archive streams through
 * the filter into the engine's import.
 */
export async function pushCompilerCache(
  engine: DockerEngine,
  builderImageId: string,
  volume: string,
  repository: string,
  builderTags: readonly string[],
  ctx: { now: () => number; onEvent: (event: CompilerCacheEvent) => void },
): Promise<void> {
  const started = ctx.now();
  const refs = [...new Set(builderTags.map((tag) => compilerCacheRef(repository, tag)))];
  const [first, ...others] = refs as [string, ...string[]];
  try {
    const summary = await withVolumeContainer(engine, builderImageId, volume, (container) =>
      container.readArchive(CACHE_DIR, async (tar) => {
        const { stream, done } = filterCacheArchive(tar, LIMITS);
        await Promise.all([engine.importImage(stream, first, managedLabels(CACHE_ROLE)), done]);
        return done;
      }),
    ).catch((err: unknown) => {
      if (!(err instanceof CacheArchiveError)) throw err;
      throw new BuilderError('COMPILER_CACHE_REFUSED', `--cache-to: the ${volume} volume holds what a compiler cache does not: ${err.message}.`, {
        fix: `Something a build ran wrote it into ${CACHE_DIR}. Remove the volume (docker volume rm ${volume}) and build again, or build without --cache-to.`,
      });
    });
    for (const ref of others) await engine.tagImage(first, ref);
    let digest = '';
    for (const ref of refs) digest = await engine.pushImage(ref, () => {});
    ctx.onEvent({ type: 'pushed', refs, digest, ...summary, seconds: (ctx.now() - started) / 1000 });
  } finally {
    for (const ref of refs) await engine.removeImage(ref);
  }
}

/** Entries that are not cache data were left out: say so, and name a few. */
function leftOut(event: { skipped: number; skippedNames: string[] }): string {
  if (event.skipped === 0) return '';
  return `; left out ${event.skipped} entr${event.skipped === 1 ? 'y' : 'ies'} that are not cache data: ${event.skippedNames.map((n) => JSON.stringify(n)).join(', ')}${event.skipped > event.skippedNames.length ? ', …' : ''}`;
}

export function describeCompilerCacheEvent(event: CompilerCacheEvent): string {
  const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
  switch (event.type) {
    case 'restored':
      return `compiler cache restored from ${event.ref} (${event.files} files, ${mib(event.bytes)}${leftOut(event)}) in ${event.seconds.toFixed(1)} s`;
    case 'kept':
      return `compiler cache: not restored, ${event.reason}`;
    case 'miss':
      return `compiler cache miss (${event.ref}): ${event.reason}; compiling without it`;
    case 'pushed':
      return `compiler cache pushed to ${event.refs.join(', ')} (${event.digest}; ${event.files} files, ${mib(event.bytes)}${leftOut(event)}) in ${event.seconds.toFixed(1)} s`;
  }
}

export type { CacheArchiveSummary };
