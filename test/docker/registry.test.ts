import { randomBytes } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import Docker from 'dockerode';
import { beforeAll, describe, expect, it } from 'vitest';
import { HOST_BOOKWORM, HOST_TRIXIE, requireDocker, skipDocker } from '../helpers/docker.js';
import { buildTestImage, runContainer } from '../helpers/images.js';
import { REGISTRY, requireRegistry, skipRegistry } from '../helpers/registry.js';
import { cli, copyProject, editJson } from '../helpers/project.js';
import { parseLockfile } from '../../src/lock/lockfile.js';

const docker = new Docker();

/** Run an engine API call that answers with a progress stream; its events, or the error it reports. */
async function progress(stream: NodeJS.ReadableStream): Promise<Array<Record<string, any>>> {
  return new Promise((resolve, reject) =>
    docker.modem.followProgress(stream, (err: Error | null, events: Array<Record<string, any>>) => {
      const failed = events?.find((e) => e.error);
      if (err || failed) reject(new Error(err?.message ?? failed?.error));
      else resolve(events);
    }),
  );
}

describe.skipIf(skipDocker || skipRegistry)('the registry the project starts (Debian docker-registry, real engine)', () => {
  beforeAll(async () => {
    await requireDocker();
    requireRegistry();
  });

  it('push through the engine API records a digest; removed locally, pulled by that digest, the image is the same and runs', async () => {
    const repo = `${REGISTRY}/pb-test/example-host`;
    const tag = `t-${randomBytes(4).toString('hex')}`;
    const original = await docker.getImage(HOST_BOOKWORM).inspect();
    await docker.getImage(HOST_BOOKWORM).tag({ repo, tag });
    const events = await progress(await docker.getImage(`${repo}:${tag}`).push({ authconfig: { serveraddress: REGISTRY } }));
    const digest = events.find((e) => e.aux?.Digest)?.aux?.Digest as string;
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    // The registry itself serves the manifest under that digest.
    const manifest = await fetch(`http://${REGISTRY}/v2/pb-test/example-host/manifests/${digest}`, {
      method: 'HEAD',
      headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' },
    });
    expect(manifest.status).toBe(200);
    expect(manifest.headers.get('docker-content-digest')).toBe(digest);

    const byDigest = `${repo}@${digest}`;
    expect((await docker.getImage(byDigest).inspect()).RepoDigests).toContain(byDigest);
    await docker.getImage(`${repo}:${tag}`).remove();
    await docker.getImage(byDigest).remove().catch(() => {});
    await expect(docker.getImage(byDigest).inspect()).rejects.toMatchObject({ statusCode: 404 });

    await progress(await docker.pull(byDigest));
    const pulled = await docker.getImage(byDigest).inspect();
    expect(pulled.Id).toBe(original.Id);
    expect(pulled.RepoDigests).toContain(byDigest);
    const run = await runContainer(byDigest, ['node', '-e', 'console.log(6 * 7)']);
    expect(run).toEqual({ exitCode: 0, output: '42' });
    await docker.getImage(byDigest).remove().catch(() => {});
  }, 300_000);

  it('host.image by digest: missing → refused with the --pull fix; `build --pull` pulls it, prints and locks its repo digest; a tag reference locks it too', async () => {
    const repo = `${REGISTRY}/pb-test/pull-host`;
    const tag = `t-${randomBytes(4).toString('hex')}`;
    const original = await docker.getImage(HOST_BOOKWORM).inspect();
    await docker.getImage(HOST_BOOKWORM).tag({ repo, tag });
    const events = await progress(await docker.getImage(`${repo}:${tag}`).push({ authconfig: { serveraddress: REGISTRY } }));
    const byDigest = `${repo}@${events.find((e) => e.aux?.Digest)?.aux?.Digest as string}`;
    const removeLocal = async () => {
      await docker.getImage(`${repo}:${tag}`).remove().catch(() => {});
      await docker.getImage(byDigest).remove().catch(() => {});
    };
    await removeLocal();
    const dir = await copyProject('examples/hello');
    try {
      await editJson(join(dir, 'builder.config.json'), (c) => {
        (c.host as { image: string }).image = byDigest;
      });
      const missing = await cli(dir, ['build']);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain(`The host image ${byDigest} is not present on the Docker engine.`);
      expect(missing.stderr).toContain('builder build --pull');

      const pulled = await cli(dir, ['build', '--pull']);
      expect(pulled.code, pulled.stderr).toBe(0);
      expect(pulled.stdout + pulled.stderr).toContain(`pulled ${byDigest}: ${byDigest}`);
      const lock = parseLockfile(await readFile(join(dir, 'dist/plugins/builder.lock.json'), 'utf8'));
      expect(lock.host).toMatchObject({ image: byDigest, imageId: original.Id, repoDigest: byDigest });

      // By tag: the digest the tag resolved to is locked beside it.
      await progress(await docker.pull(`${repo}:${tag}`));
      await editJson(join(dir, 'builder.config.json'), (c) => {
        (c.host as { image: string }).image = `${repo}:${tag}`;
      });
      const byTag = await cli(dir, ['build']);
      expect(byTag.code, byTag.stderr).toBe(0);
      expect(parseLockfile(await readFile(join(dir, 'dist/plugins/builder.lock.json'), 'utf8')).host).toMatchObject({ image: `${repo}:${tag}`, repoDigest: byDigest });
    } finally {
      await removeLocal();
      await rm(dir, { recursive: true, force: true });
    }
  }, 300_000);
  it('drift --pull: a tag that now points elsewhere in the registry is drift (benign for the same environment, breaking for another); without --pull the engine\'s copy is judged', async () => {
    const repo = `${REGISTRY}/pb-test/drift-host`;
    const ref = `${repo}:t-${randomBytes(4).toString('hex')}`;
    const pushAs = async (image: string) => {
      await docker.getImage(image).tag({ repo, tag: ref.slice(repo.length + 1) });
      const events = await progress(await docker.getImage(ref).push({ authconfig: { serveraddress: REGISTRY } }));
      const pushed = `${repo}@${events.find((e) => e.aux?.Digest)?.aux?.Digest as string}`;
      references.push(pushed);
      return pushed;
    };
    const references = [ref];
    const rebuilt = `plugin-builder/test-drift-rebuilt:${ref.slice(-8)}`;
    const dir = await copyProject('examples/hello');
    try {
      const first = await pushAs(HOST_BOOKWORM);
      await editJson(join(dir, 'builder.config.json'), (c) => {
        (c.host as { image: string }).image = ref;
      });
      const build = await cli(dir, ['build']);
      expect(build.code, build.stderr).toBe(0);
      expect(parseLockfile(await readFile(join(dir, 'dist/plugins/builder.lock.json'), 'utf8')).host.repoDigest).toBe(first);

      // Another machine pushes a rebuilt image (same environment) under the same tag; this engine still has the old one.
      await buildTestImage(rebuilt, `FROM ${HOST_BOOKWORM}\nLABEL rebuilt="${Date.now()}"\n`);
      const second = await pushAs(rebuilt);
      expect(second).not.toBe(first);
      await docker.getImage(HOST_BOOKWORM).tag({ repo, tag: ref.slice(repo.length + 1) });

      const local = await cli(dir, ['drift', '--json']);
      expect(local.code, local.stderr).toBe(0);
      expect(JSON.parse(local.stdout)).toMatchObject({ outcome: 'no-drift', image: ref, pulled: false, repoDigest: { locked: first, current: first } });
      expect((await cli(dir, ['drift'])).stdout).toContain(`--pull compares with what the registry serves for ${ref} now`);

      const pulled = await cli(dir, ['drift', '--pull']);
      expect(pulled.code, pulled.stderr).toBe(0);
      expect(pulled.stderr).toContain(`pulled ${ref}: ${second}`);
      expect(pulled.stdout).toContain('benign drift');
      expect(pulled.stdout).toContain(`repo digest: ${first} → ${second}`);
      const benign = JSON.parse((await cli(dir, ['drift', '--json'])).stdout);
      expect(benign).toMatchObject({ outcome: 'benign', differences: [], repoDigest: { locked: first, current: second } });

      // Then the tag moves to another environment (trixie): breaking, exit 1, every plugin to rebuild.
      const third = await pushAs(HOST_TRIXIE);
      await docker.getImage(rebuilt).tag({ repo, tag: ref.slice(repo.length + 1) });
      const breaking = await cli(dir, ['drift', '--pull', '--json']);
      expect(breaking.code, breaking.stderr).toBe(1);
      const report = JSON.parse(breaking.stdout);
      expect(report).toMatchObject({ outcome: 'breaking', pulled: true, repoDigest: { locked: first, current: third } });
      expect(report.differences.map((d: { field: string }) => d.field)).toEqual(['libc.version', 'os.versionId']);
      expect(report.plugins.map((p: { name: string; mustRebuild: boolean }) => [p.name, p.mustRebuild])).toEqual([
        ['greet', true],
        ['shout', true],
      ]);

      // A tag that is gone from the registry: the pull fails and says so (exit 2), nothing is judged.
      const gone = await cli(dir, ['drift', '--pull', '--image', `${repo}:never-pushed`]);
      expect(gone.code).toBe(2);
      expect(gone.stderr).toContain(`Pulling image ${repo}:never-pushed failed`);
    } finally {
      for (const image of [...references, rebuilt]) await docker.getImage(image).remove().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
