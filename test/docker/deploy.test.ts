import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprintHash } from '../../src/env/fingerprint.js';
import { parseLockfile } from '../../src/lock/lockfile.js';
import { HOST_BOOKWORM, HOST_TRIXIE, requireDocker, skipDocker } from '../helpers/docker.js';
import { startHostContainer } from '../helpers/host-container.js';
import { cli, copyProject, editJson } from '../helpers/project.js';
import { REGISTRY, requireRegistry, skipRegistry } from '../helpers/registry.js';

const docker = new Docker();
const rand = () => randomBytes(4).toString('hex');

/** `builder deploy` against the real engine and the project's registry, the result run by the real host runtime. */
describe.skipIf(skipDocker || skipRegistry)('builder deploy (real engine, real registry)', () => {
  let project: string;
  let keyDir: string;
  let empty: string;
  let pub: string;
  const made: string[] = [];

  beforeAll(async () => {
    await requireDocker();
    requireRegistry();
    project = await copyProject('examples/hello');
    keyDir = await mkdtemp(join(tmpdir(), 'pb-deploy-keys-'));
    empty = await mkdtemp(join(tmpdir(), 'pb-deploy-empty-'));
    const keys = await cli(keyDir, ['keygen', '--out-dir', keyDir, '--name', 'ci', '--json']);
    expect(keys.code, keys.stderr).toBe(0);
    const { privateKey, publicKey } = JSON.parse(keys.stdout) as { privateKey: string; publicKey: string };
    pub = publicKey;
    const build = await cli(project, ['build', '--sign-key', privateKey]);
    expect(build.code, build.stderr).toBe(0);
  }, 600_000);

  afterAll(async () => {
    for (const ref of made) await docker.getImage(ref).remove().catch(() => {});
    for (const dir of [project, keyDir, empty]) if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('FROM the locked host image: plugins, lockfile, signature and trust key at the runtime\'s paths, OCI labels; verified, tagged; it runs and answers', async () => {
    const tag = `pb-test/deployed:${rand()}`;
    made.push(tag);
    const run = await cli(project, ['deploy', '--tag', tag, '--trust-key', pub, '--json']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as { outcome: string; image: string; imageId: string; verify: { outcome: string } };
    expect(result).toMatchObject({ outcome: 'deployed', image: tag, verify: { outcome: 'ok' } });
    const lockBytes = await readFile(join(project, 'dist/plugins/builder.lock.json'));
    const lock = parseLockfile(lockBytes.toString('utf8'));
    const image = await docker.getImage(tag).inspect();
    const host = await docker.getImage(HOST_BOOKWORM).inspect();
    expect(image.Id).toBe(result.imageId);
    expect(image.Config.Labels).toMatchObject({
      'org.opencontainers.image.base.name': HOST_BOOKWORM,
      'org.opencontainers.image.base.digest': host.Id,
      'io.plugin-builder.lockfile.sha256': createHash('sha256').update(lockBytes).digest('hex'),
      'io.plugin-builder.fingerprint-hash': lock.host.fingerprintHash,
    });
    // Built on the host image itself: its layers come first, unchanged.
    expect(image.RootFS.Layers?.slice(0, host.RootFS.Layers?.length)).toEqual(host.RootFS.Layers);
    expect(await docker.listImages({ filters: { reference: ['plugin-builder/deploy-candidate'] } })).toEqual([]);

    const running = await startHostContainer(tag, empty, { args: ['--trust-dir', '/app/trust'] });
    try {
      const plugins = await running.get('/plugins');
      expect(plugins.body.trust).toBe('signed');
      expect(plugins.body.plugins?.map((p) => [p.name, p.status])).toEqual([['greet', 'loaded'], ['shout', 'loaded']]);
      expect(await running.post('/plugins/greet/call/Add', { args: [20, 22] })).toEqual({ status: 200, body: { result: 42 } });
    } finally {
      await running.stop();
    }
  }, 300_000);

  it('a tampered artifact is refused before any image is made', async () => {
    const file = join(project, 'dist/plugins/libshout.so');
    const good = await readFile(file);
    const bad = Buffer.from(good);
    bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 0xff;
    await writeFile(file, bad);
    try {
      const tag = `pb-test/deployed:${rand()}`;
      const run = await cli(project, ['deploy', '--tag', tag, '--json']);
      expect(run.code).toBe(1);
      const { error } = JSON.parse(run.stdout) as { error: { code: string; message: string } };
      expect(error.code).toBe('HASH_MISMATCH');
      expect(error.message).toContain('Plugin "shout" (libshout.so): sha256');
      await expect(docker.getImage(tag).inspect()).rejects.toMatchObject({ statusCode: 404 });
      expect(await docker.listImages({ filters: { reference: ['plugin-builder/deploy-candidate'] } })).toEqual([]);
      // A FIFO in its place: refused at once, never read (a read would hang).
      await rm(file);
      execFileSync('mkfifo', [file]);
      const fifo = await cli(project, ['deploy', '--tag', tag, '--json']);
      expect(fifo.code).toBe(1);
      expect((JSON.parse(fifo.stdout) as { error: { code: string } }).error.code).toBe('NOT_A_REGULAR_FILE');
    } finally {
      await rm(file, { force: true });
      await writeFile(file, good);
    }
  }, 120_000);

  it('a lockfile whose host fingerprint was rewritten (hash recomputed, no signature to check) passes the pre-checks but not verify in the candidate image: DEPLOY_VERIFY_FAILED, nothing tagged', async () => {
    const dir = await copyProject('examples/hello');
    expect((await cli(dir, ['build'])).code).toBe(0);
    // An attacker who can edit the lockfile claims an older glibc for the host, so that plugins
    // needing a newer one would be predicted to load; every hash in the file stays self-consistent.
    await editJson(join(dir, 'dist/plugins/builder.lock.json'), (value) => {
      const lock = value as { host: { fingerprint: { libc: { version: string } }; fingerprintHash: string } };
      lock.host.fingerprint.libc.version = '2.31';
      lock.host.fingerprintHash = fingerprintHash(lock.host.fingerprint as never);
    });
    const tag = `pb-test/deployed:${rand()}`;
    const run = await cli(dir, ['deploy', '--tag', tag, '--json']);
    expect(run.code, run.stdout).toBe(1);
    const { error } = JSON.parse(run.stdout) as { error: { code: string; message: string; fix: string } };
    expect(error.code).toBe('DEPLOY_VERIFY_FAILED');
    expect(error.message).toContain('The deployable image does not pass verify; it was not tagged:');
    expect(error.message).toMatch(/libc\.version.*2\.31.*2\.36|2\.31.*2\.36/s);
    expect(error.fix).toContain('builder verify');
    await expect(docker.getImage(tag).inspect()).rejects.toMatchObject({ statusCode: 404 });
    expect(await docker.listImages({ filters: { reference: ['plugin-builder/deploy-candidate'] } })).toEqual([]);
    await rm(dir, { recursive: true, force: true });
  }, 300_000);

  it('--push: pushed to the registry and its digest printed; removed locally, pulled by digest, it runs and answers', async () => {
    const tag = `${REGISTRY}/pb-test/deployed:${rand()}`;
    const run = await cli(project, ['deploy', '--tag', tag, '--push', '--trust-key', pub, '--json']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const pushed = (JSON.parse(run.stdout) as { pushed: string }).pushed;
    expect(pushed).toMatch(new RegExp(`^${REGISTRY.replace(/\./g, '\\.')}/pb-test/deployed@sha256:[0-9a-f]{64}$`));
    await docker.getImage(tag).remove();
    await docker.getImage(pushed).remove().catch(() => {});
    await expect(docker.getImage(pushed).inspect()).rejects.toMatchObject({ statusCode: 404 });
    await new Promise<void>((resolve, reject) => {
      void docker.pull(pushed).then((stream) => docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())), reject);
    });
    made.push(pushed);
    const running = await startHostContainer(pushed, empty, { args: ['--trust-dir', '/app/trust'] });
    try {
      expect(await running.post('/plugins/shout/call/Shout', { args: ['ok'] })).toEqual({ status: 200, body: { result: 'OK!' } });
    } finally {
      await running.stop();
    }
  }, 300_000);

  it('a host image that moved since the build is refused, naming both images and the drift command', async () => {
    const movable = `pb-test/movable-host:${rand()}`;
    made.push(movable);
    await docker.getImage(HOST_BOOKWORM).tag({ repo: movable.split(':')[0] as string, tag: movable.split(':')[1] as string });
    const dir = await copyProject('examples/hello');
    try {
      await editJson(join(dir, 'builder.config.json'), (c) => {
        (c.host as { image: string }).image = movable;
      });
      expect((await cli(dir, ['build'])).code).toBe(0);
      await docker.getImage(HOST_TRIXIE).tag({ repo: movable.split(':')[0] as string, tag: movable.split(':')[1] as string });
      const tag = `pb-test/deployed:${rand()}`;
      const run = await cli(dir, ['deploy', '--tag', tag]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`The host image ${movable} is now ${(await docker.getImage(HOST_TRIXIE).inspect()).Id}; the plugins were built for ${(await docker.getImage(HOST_BOOKWORM).inspect()).Id}.`);
      expect(run.stderr).toContain(`builder drift --image ${movable}`);
      await expect(docker.getImage(tag).inspect()).rejects.toMatchObject({ statusCode: 404 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
