import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import Docker from 'dockerode';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BuildReport } from '../../src/build/build-project.js';
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

  it('refuses a cache option naming a tag, before touching the engine', async () => {
    const dir = await copyProject('examples/hello');
    const run = await cli(dir, ['build', '--cache-from', `${REGISTRY}/pb-test/cache:v1`]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`--cache-from "${REGISTRY}/pb-test/cache:v1" names a tag or digest.`);
    expect(run.stderr).toContain("adds the builder's input hash as the tag");
  });
});
