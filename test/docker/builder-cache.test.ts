import { randomBytes } from 'node:crypto';
import { readFile, realpath, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import * as tarStream from 'tar-stream';
import Docker from 'dockerode';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BuildReport } from '../../src/building/build-report.js';
import { compilerCacheScope } from '../../src/building/cache-scope.js';
import { managedLabels } from '../../src/docker/engine.js';
import { ImagePullError } from '../../src/errors.js';
import { engine, HOST_BOOKWORM, HOST_TRIXIE, requireDocker, skipDocker } from '../helpers/docker.js';
import { buildTestImage } from '../helpers/images.js';
import { cli, copyProject } from '../helpers/project.js';
import { REGISTRY, requireRegistry, skipRegistry } from '../helpers/registry.js';

const docker = new Docker();

async function push(ref: string): Promise<void> {
  const stream = await docker.getImage(ref).push({ authconfig: { serveraddress: REGISTRY } });
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(stream, (err: Error | null, events: Array<{ error?: string }>) => {
      const failed = events?.find((e) => e.error);
      if (err || failed) reject(new Error(err?.message ?? failed?.error));
      else resolve();
    }),
  );
}

async function build(dir: string, args: string[]): Promise<{ report: BuildReport; stderr: string; lock: string }> {
  const run = await cli(dir, ['build', ...args, '--json']);
  expect(run.code, run.stderr + run.stdout).toBe(0);
  return { report: JSON.parse(run.stdout) as BuildReport, stderr: run.stderr, lock: await readFile(join(dir, 'dist/plugins/builder.lock.json'), 'utf8') };
}

/** The compiler cache volume of a project directory (each project has its own: cache-scope.ts). */
const volumeOf = async (dir: string) => compilerCacheScope(await realpath(dir)).volume;

/** No cache volume (and no leftover container of an earlier failed run holding it). */
async function removeCacheVolume(volume: string): Promise<void> {
  for (const c of await docker.listContainers({ all: true, filters: JSON.stringify({ volume: [volume] }) })) await docker.getContainer(c.Id).remove({ force: true });
  await docker.getVolume(volume).remove().catch((err: { statusCode?: number }) => {
    if (err.statusCode !== 404) throw err;
  });
}

/** What the container's output says, for a short command in a container of `image` with the cache volume. */
async function inVolume(image: string, volume: string, cmd: string[]): Promise<string> {
  let out = '';
  const sink = new Writable({ write(chunk, _e, cb) { out += String(chunk); cb(); } });
  const [result, container] = (await docker.run(image, cmd, sink, { Tty: true, HostConfig: { Binds: [`${volume}:/cache`] } } as never)) as unknown as [{ StatusCode: number }, Docker.Container];
  await container.remove({ force: true });
  if (result.StatusCode !== 0) throw new Error(`${cmd.join(' ')} exited ${result.StatusCode}: ${out}`);
  return out;
}

/** ccache's own counters in the volume (ccache --print-stats). */
async function ccacheStats(image: string, volume: string): Promise<{ hits: number; misses: number }> {
  const text = await inVolume(image, volume, ['ccache', '-d', '/cache/ccache', '--print-stats']);
  const value = (key: string) => Number(new RegExp(`^${key}\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  return { hits: value('direct_cache_hit') + value('preprocessed_cache_hit'), misses: value('cache_miss') };
}

function volumeListing(image: string, volume: string): Promise<string> {
  return inVolume(image, volume, ['ls', '-laR', '/cache']);
}

/** A one-layer image made from these tar entries (through the engine's import, as an attacker with push access could). */
async function importTar(ref: string, entries: Array<{ name: string; type: 'file' | 'directory' | 'symlink'; data?: string; linkname?: string; mode?: number }>, labels: Record<string, string>): Promise<void> {
  const pack = tarStream.pack();
  for (const e of entries) {
    if (e.type === 'file') pack.entry({ name: e.name, type: e.type, ...(e.mode ? { mode: e.mode } : {}) }, e.data ?? '');
    else pack.entry({ name: e.name, type: e.type, ...(e.linkname ? { linkname: e.linkname } : {}) });
  }
  pack.finalize();
  const [repo, tag] = [ref.slice(0, ref.lastIndexOf(':')), ref.slice(ref.lastIndexOf(':') + 1)];
  const changes = Object.entries(labels).map(([k, v]) => `LABEL ${k}=${v}`);
  const stream = (await docker.importImage(pack as never, { repo, tag, changes } as never)) as unknown as NodeJS.ReadableStream;
  await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())));
}

describe.skipIf(skipDocker || skipRegistry)('builder image cache through the real registry (--cache-from / --cache-to)', () => {
  beforeAll(async () => {
    await requireDocker();
    requireRegistry();
  });

  it('a pull the engine answers with an error is an ImagePullError (a cache miss), for a tag the registry lacks and for a registry that is not there', async () => {
    await expect(engine.pullImage(`${REGISTRY}/pb-test/never-pushed:x`, () => {})).rejects.toBeInstanceOf(ImagePullError);
    await expect(engine.pullImage('127.0.0.1:1/pb-test/nothing-listens:x', () => {})).rejects.toBeInstanceOf(ImagePullError);
  });

  it('poisoned cache refused and built here; --cache-to pushes; removed locally, --cache-from pulls the very same image and the lockfile comes out byte-identical', async () => {
    const suffix = randomBytes(4).toString('hex');
    const poisoned = `${REGISTRY}/pb-test/cache-poisoned-${suffix}`;
    const cache = `${REGISTRY}/pb-test/cache-${suffix}`;
    const first = await copyProject('examples/hello');
    const plain = await build(first, []);
    const builderTag = plain.report.builder.image;
    const hash = builderTag.slice(builderTag.lastIndexOf(':') + 1);
    const bookwormId = (await docker.getImage(HOST_BOOKWORM).inspect()).Id;

    // Someone with write access to the cache puts a "builder" under this input hash: labels right, made from another base.
    await buildTestImage(`${poisoned}:${hash}`, `FROM ${HOST_TRIXIE}\nRUN true\n`, {}, managedLabels('builder', { 'io.plugin-builder.base': bookwormId }));
    await push(`${poisoned}:${hash}`);
    await docker.getImage(`${poisoned}:${hash}`).remove();
    await docker.getImage(builderTag).remove();

    const second = await copyProject('examples/hello');
    const refused = await cli(second, ['build', '--cache-from', poisoned]);
    expect(refused.code, refused.stderr).toBe(0);
    expect(refused.stderr).toContain(`builder cache miss (${poisoned}:${hash}): refused the cached image: its layers do not start with the base image's`);
    expect(refused.stderr).toMatch(/builder image plugin-builder\/builder:\w+ built in/);
    // --progress plain (not a terminal): the builder image's steps as they run, the last one before "built in".
    expect(refused.stderr).toMatch(/• builder image: step 1\/(\d+) [\s\S]*• builder image: step \1\/\1 [\s\S]*builder image plugin-builder\/builder:\w+ built in/);
    await expect(docker.getImage(`${poisoned}:${hash}`).inspect()).rejects.toMatchObject({ statusCode: 404 });
    const builtId = (await docker.getImage(builderTag).inspect()).Id;

    const pushed = await cli(second, ['build', '--cache-to', cache]);
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.stderr).toMatch(new RegExp(`builder image pushed to ${cache.replace(/\./g, '\\.')}:${hash} \\(sha256:[0-9a-f]{64}\\)`));
    const manifest = await fetch(`http://${REGISTRY}/v2/pb-test/cache-${suffix}/manifests/${hash}`, { method: 'HEAD', headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
    expect(manifest.status).toBe(200);
    await expect(docker.getImage(`${cache}:${hash}`).inspect()).rejects.toMatchObject({ statusCode: 404 });
    const reference = await build(second, []);

    // A fresh runner: the engine has the host image but no builder.
    await docker.getImage(builderTag).remove();
    const third = await copyProject('examples/hello');
    const text = await cli(third, ['build', '--cache-from', cache]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stderr).toContain(`builder image pulled from ${cache}:${hash} in`);
    expect(text.stderr).toContain(`builder image ${builderTag} pulled from the cache`);
    expect(text.stderr).not.toMatch(/builder image \S+ built in/);
    expect((await docker.getImage(builderTag).inspect()).Id).toBe(builtId);
    const pulled = await build(third, ['--cache-from', cache]);
    expect(pulled.report.builderImageSource).toBe('reused');
    expect(pulled.report.builder.imageId).toBe(builtId);
    expect(pulled.lock).toBe(reference.lock);
    for (const name of ['libgreet.so', 'libshout.so']) {
      expect(await readFile(join(third, 'dist/plugins', name))).toEqual(await readFile(join(second, 'dist/plugins', name)));
    }
  }, 600_000);

  it('compiler cache: --cache-to pushes the volume; a fresh runner restores it with --cache-from and its compiles hit it (ccache stats); a non-empty volume is kept', async () => {
    const cache = `${REGISTRY}/pb-test/cc-${randomBytes(4).toString('hex')}`;
    const first = await copyProject('examples/hello');
    const pushed = await build(first, ['--cache-to', cache]);
    const builder = pushed.report.builder.image;
    const ref = `${cache}:${builder.slice(builder.lastIndexOf(':') + 1)}-compiler-cache`;
    // --json on stdout, progress on stderr: both.
    expect(pushed.stderr).toContain(`compiler cache pushed to ${ref}`);
    const event = pushed.report.compilerCache?.find((e) => e.type === 'pushed');
    expect(event).toMatchObject({ type: 'pushed', refs: [ref], digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
    expect(event?.type === 'pushed' && event.files).toBeGreaterThan(10);
    await expect(docker.getImage(ref).inspect()).rejects.toMatchObject({ statusCode: 404 });
    const manifest = await fetch(`http://${REGISTRY}/v2/${ref.slice(REGISTRY.length + 1).replace(':', '/manifests/')}`, { method: 'HEAD', headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } });
    expect(manifest.status).toBe(200);
    const after = await ccacheStats(builder, await volumeOf(first));
    expect(after.hits).toBe(0);

    // A fresh runner: another checkout, so another (empty) cache volume.
    const second = await copyProject('examples/hello');
    const restored = await cli(second, ['build', '--cache-from', cache]);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stderr).toMatch(new RegExp(`compiler cache restored from ${ref.replace(/\./g, '\\.')} \\(${event?.type === 'pushed' && event.files} files, [\\d.]+ MiB\\) in`));
    const stats = await ccacheStats(builder, await volumeOf(second));
    // The stats came with the cache: the same misses, and every C compile of this build a hit.
    expect(stats.misses).toBe(after.misses);
    expect(stats.hits).toBe(after.misses);
    expect(await readFile(join(second, 'dist/plugins/builder.lock.json'), 'utf8')).toBe(pushed.lock);
    await expect(docker.getImage(ref).inspect()).rejects.toMatchObject({ statusCode: 404 });

    // The same checkout again: its volume has content, which is kept.
    await rm(join(second, 'dist'), { recursive: true, force: true });
    const kept = await build(second, ['--cache-from', cache]);
    expect(kept.report.compilerCache).toEqual([{ type: 'kept', reason: `the ${await volumeOf(second)} volume already holds a cache` }]);
    for (const dir of [first, second]) await removeCacheVolume(await volumeOf(dir));
  }, 600_000);

  it('compiler cache attacks: a cached archive with a symlink (or an image that is no compiler cache) is refused and nothing of it stays; a volume holding a symlink is refused by --cache-to before anything is written', async () => {
    const cache = `${REGISTRY}/pb-test/cc-hostile-${randomBytes(4).toString('hex')}`;
    const dir = await copyProject('examples/hello');
    const reference = await build(dir, []);
    const builder = reference.report.builder.image;
    const ref = `${cache}:${builder.slice(builder.lastIndexOf(':') + 1)}-compiler-cache`;

    // Someone with push access plants a symlink where ccache writes: the next compile would write through it.
    await importTar(ref, [{ name: 'cache/', type: 'directory' }, { name: 'cache/planted', type: 'file', data: 'x' }, { name: 'cache/ccache', type: 'symlink', linkname: '/out' }], { 'io.plugin-builder.role': 'compiler-cache' });
    await push(ref);
    await docker.getImage(ref).remove();
    const fresh = await copyProject('examples/hello');
    const refused = await cli(fresh, ['build', '--cache-from', cache]);
    expect(refused.code, refused.stderr).toBe(0);
    expect(refused.stderr).toContain(`compiler cache miss (${ref}): refused the archive: entry "cache/ccache": a symlink entry (only directories and regular files); compiling without it`);
    expect(await readFile(join(fresh, 'dist/plugins/builder.lock.json'), 'utf8')).toBe(reference.lock);
    expect(await volumeListing(builder, await volumeOf(fresh))).not.toMatch(/planted|-> \/out/);

    // Configuration and code in a cache: ccache.conf naming a prefix command, an executable script.
    // Restored, they would run in every later compile; they are left out, the data goes in.
    await importTar(
      ref,
      [
        { name: 'cache/', type: 'directory' },
        { name: 'cache/ccache/', type: 'directory' },
        { name: 'cache/ccache/ccache.conf', type: 'file', data: 'prefix_command = /cache/ccache/run.sh\n' },
        { name: 'cache/ccache/run.sh', type: 'file', data: '#!/bin/sh\necho pwned >&2\nexec "$@"\n', mode: 0o755 },
        { name: 'cache/go/', type: 'directory' },
        { name: 'cache/go/README', type: 'file', data: 'go build cache\n' },
      ],
      { 'io.plugin-builder.role': 'compiler-cache' },
    );
    await push(ref);
    await docker.getImage(ref).remove();
    const configured = await copyProject('examples/hello');
    const leftOut = await cli(configured, ['build', '--cache-from', cache]);
    expect(leftOut.code, leftOut.stderr).toBe(0);
    expect(leftOut.stderr).toMatch(/compiler cache restored from .*\(1 files, [\d.]+ MiB; left out 2 entries that are not cache data: "cache\/ccache\/ccache.conf", "cache\/ccache\/run.sh"\)/);
    expect(leftOut.stderr).not.toContain('pwned');
    const listing = await volumeListing(builder, await volumeOf(configured));
    expect(listing).not.toMatch(/ccache\.conf|run\.sh/);
    expect(await readFile(join(configured, 'dist/plugins/builder.lock.json'), 'utf8')).toBe(reference.lock);

    // An image under the tag that is not a compiler cache at all.
    await importTar(ref, [{ name: 'cache/', type: 'directory' }], { 'io.plugin-builder.role': 'builder' });
    await push(ref);
    await docker.getImage(ref).remove();
    const other = await copyProject('examples/hello');
    const wrongRole = await build(other, ['--cache-from', cache]);
    expect(wrongRole.report.compilerCache).toEqual([{ type: 'miss', ref, reason: 'refused: it is not a plugin-builder compiler cache (label io.plugin-builder.role is "builder")' }]);

    // A build script left a symlink in the volume: --cache-to refuses to ship it, and the build writes nothing.
    const changed = await copyProject('examples/hello');
    const changedVolume = await volumeOf(changed);
    await inVolume(builder, changedVolume, ['ln', '-s', '/etc', '/cache/escape']);
    const run = await cli(changed, ['build', '--cache-to', cache]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`--cache-to: the ${changedVolume} volume holds what a compiler cache does not: "cache/escape": a symlink entry`);
    expect(run.stderr).toContain(`docker volume rm ${changedVolume}`);
    await expect(readFile(join(changed, 'dist/plugins/builder.lock.json'))).rejects.toMatchObject({ code: 'ENOENT' });
    for (const d of [dir, fresh, configured, other, changed]) await removeCacheVolume(await volumeOf(d));
  }, 600_000);

  it('refuses a cache option naming a tag, before touching the engine', async () => {
    const dir = await copyProject('examples/hello');
    const run = await cli(dir, ['build', '--cache-from', `${REGISTRY}/pb-test/cache:v1`]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`--cache-from "${REGISTRY}/pb-test/cache:v1" names a tag or digest.`);
    expect(run.stderr).toContain("adds the builder's input hash as the tag");
  });
});
