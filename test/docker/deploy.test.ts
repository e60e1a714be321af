import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprintHash } from '../../src/env/fingerprint.js';
import { parseLockfile, serializeLockfile } from '../../src/lock/lockfile.js';
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
    // The deployed signature's serial is the image's rollback floor (a restart keeps refusing older sets).
    const envelope = JSON.parse(await readFile(join(project, 'dist/plugins/builder.lock.json.sig'), 'utf8')) as { payload: string };
    const serial = (JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as { predicate: { buildDefinition: { internalParameters: { serial: number } } } }).predicate.buildDefinition.internalParameters.serial;
    expect(serial).toBeGreaterThan(0);
    expect(image.Config.Env).toContain(`BUILDER_HOST_MIN_SERIAL=${serial}`);
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

  it('a lockfile whose host fingerprint was rewritten (hash recomputed, then signed: sign checks artifacts, not facts) passes the pre-checks but not verify in the candidate image: DEPLOY_VERIFY_FAILED, nothing tagged', async () => {
    const dir = await copyProject('examples/hello');
    expect((await cli(dir, ['build'])).code).toBe(0);
    // An attacker who can edit the lockfile claims an older glibc for the host, so that plugins
    // needing a newer one would be predicted to load; every hash in the file stays self-consistent.
    const lockPath = join(dir, 'dist/plugins/builder.lock.json');
    const lock = parseLockfile(await readFile(lockPath, 'utf8'));
    lock.host.fingerprint.libc.version = '2.31';
    lock.host.fingerprintHash = fingerprintHash(lock.host.fingerprint);
    await writeFile(lockPath, serializeLockfile(lock));
    const signed = await cli(dir, ['sign', '--key', join(keyDir, 'ci.key')]);
    expect(signed.code, signed.stderr).toBe(0);
    const tag = `pb-test/deployed:${rand()}`;
    const run = await cli(dir, ['deploy', '--tag', tag, '--trust-key', pub, '--json']);
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

  it("the deploy's trust verdict is the runtime's: --trust-key without a signature, a stale signature, a host image that trusts a key already — each refused before tagging", async () => {
    const lockfile = join(project, 'dist/plugins/builder.lock.json');
    const sig = `${lockfile}.sig`;
    const signature = await readFile(sig);
    const deployedNothing = async (tag: string) => {
      await expect(docker.getImage(tag).inspect()).rejects.toMatchObject({ statusCode: 404 });
      expect(await docker.listImages({ filters: { reference: ['plugin-builder/deploy-candidate'] } })).toEqual([]);
    };
    // 1. A key to trust and no signature: the host would refuse the lockfile (UNSIGNED_LOCKFILE); so does deploy, before building.
    await rm(sig);
    try {
      const tag = `pb-test/deployed:${rand()}`;
      const run = await cli(project, ['deploy', '--tag', tag, '--trust-key', pub, '--json']);
      expect(run.code, run.stdout).not.toBe(0);
      expect((JSON.parse(run.stdout) as { error: { code: string } }).error.code).toBe('UNSIGNED_LOCKFILE');
      await deployedNothing(tag);
    } finally {
      await writeFile(sig, signature);
    }

    // No key at all, into the default host image (its CMD names /app/trust, empty): the runtime
    // refuses to start (a named trust directory means signatures are required); so does deploy.
    {
      const tag = `pb-test/deployed:${rand()}`;
      const unsignedDefault = await cli(project, ['deploy', '--tag', tag, '--json']);
      expect(unsignedDefault.code, unsignedDefault.stdout).toBe(1);
      const error = (JSON.parse(unsignedDefault.stdout) as { error: { code: string; message: string } }).error;
      expect(error.code).toBe('DEPLOY_VERIFY_FAILED');
      expect(error.message).toContain('(BAD_KEY)');
      expect(error.message).toContain('The trust directory /app/trust holds no key');
      await deployedNothing(tag);
    }

    // A host image that already trusts the key (as a base host image of a fleet would).
    const keyed = `pb-test/keyed-host:${rand()}`;
    made.push(keyed);
    const context = await mkdtemp(join(tmpdir(), 'pb-keyed-'));
    await writeFile(join(context, 'ci.pub'), await readFile(pub));
    await writeFile(join(context, 'Dockerfile'), `FROM ${HOST_BOOKWORM}\nCOPY ci.pub /app/trust/ci.pub\n`);
    execFileSync('docker', ['build', '-q', '-t', keyed, context], { stdio: 'ignore' });
    const other = await copyProject('examples/hello');
    try {
      await editJson(join(other, 'builder.config.json'), (c) => {
        (c.host as { image: string }).image = keyed;
        c.builder = { base: HOST_BOOKWORM };
      });
      expect((await cli(other, ['build'])).code).toBe(0);
      // 2. Unsigned, no --trust-key: the keyed host would refuse it; deploy said "ok" before.
      const tag = `pb-test/deployed:${rand()}`;
      const unsigned = await cli(other, ['deploy', '--tag', tag, '--json']);
      expect(unsigned.code, unsigned.stdout).toBe(1);
      const e1 = (JSON.parse(unsigned.stdout) as { error: { code: string; message: string } }).error;
      expect(e1.code).toBe('DEPLOY_VERIFY_FAILED');
      expect(e1.message).toContain("The deployable image's runtime would refuse its lockfile (UNSIGNED_LOCKFILE)");
      expect(e1.message).toContain('/app/plugins/builder.lock.json');
      await deployedNothing(tag);
      // 3. A stale signature (the other project's, by the trusted key): BAD_SIGNATURE, as the host says.
      await writeFile(join(other, 'dist/plugins/builder.lock.json.sig'), signature);
      const stale = await cli(other, ['deploy', '--tag', tag, '--json']);
      expect(stale.code, stale.stdout).toBe(1);
      const e2 = (JSON.parse(stale.stdout) as { error: { code: string; message: string } }).error;
      expect(e2.code).toBe('DEPLOY_VERIFY_FAILED');
      expect(e2.message).toContain('(BAD_SIGNATURE)');
      await deployedNothing(tag);
      // 4. The trust directory reached through a symlink (/app/trust -> /etc/apptrust): the runtime
      // follows it and trusts the key, so an unsigned lockfile is refused there — and by deploy.
      const linked = `pb-test/keyed-host-link:${rand()}`;
      made.push(linked);
      await writeFile(join(context, 'Dockerfile'), `FROM ${HOST_BOOKWORM}\nUSER root\nRUN rm -rf /app/trust && mkdir -p /etc/apptrust && ln -s /etc/apptrust /app/trust\nCOPY ci.pub /etc/apptrust/ci.pub\nUSER 10001:10001\n`);
      execFileSync('docker', ['build', '-q', '-t', linked, context], { stdio: 'ignore' });
      await editJson(join(other, 'builder.config.json'), (c) => {
        (c.host as { image: string }).image = linked;
      });
      await rm(join(other, 'dist/plugins/builder.lock.json.sig'));
      expect((await cli(other, ['build'])).code).toBe(0);
      const viaLink = await cli(other, ['deploy', '--tag', tag, '--json']);
      expect(viaLink.code, viaLink.stdout).toBe(1);
      expect((JSON.parse(viaLink.stdout) as { error: { message: string } }).error.message).toContain('(UNSIGNED_LOCKFILE)');
      await deployedNothing(tag);
    } finally {
      await rm(other, { recursive: true, force: true });
      await rm(context, { recursive: true, force: true });
    }
  }, 300_000);

  it('--tag: never one that names (or points to) an image the project builds from, validated before anything is built, printed escaped', async () => {
    const hostId = (await docker.getImage(HOST_BOOKWORM).inspect()).Id;
    const alias = `pb-test/host-alias:${rand()}`;
    made.push(alias);
    await docker.getImage(HOST_BOOKWORM).tag({ repo: alias.split(':')[0] as string, tag: alias.split(':')[1] as string });
    for (const tag of [HOST_BOOKWORM, `docker.io/${HOST_BOOKWORM}`, alias]) {
      const run = await cli(project, ['deploy', '--tag', tag, '--json']);
      expect(run.code, run.stdout).toBe(2);
      const error = (JSON.parse(run.stdout) as { error: { code: string; message: string } }).error;
      expect(error.code).toBe('DEPLOY_TAG_REFUSED');
      expect(error.message).toMatch(/an image the config or lockfile builds from/);
    }
    // The host tag did not move.
    expect((await docker.getImage(HOST_BOOKWORM).inspect()).Id).toBe(hostId);
    // The tool's own repositories (another project's builder image, compiler caches) are refused.
    for (const tag of ['plugin-builder/builder:0123456789abcdef0123', 'plugin-builder/deploy-candidate:x', `${REGISTRY}/ci/cache:abc-compiler-cache`]) {
      const own = await cli(project, ['deploy', '--tag', tag, '--json']);
      expect((JSON.parse(own.stdout) as { error: { code: string } }).error.code, tag).toBe('DEPLOY_TAG_REFUSED');
    }
    // A builder image's tag is refused as well.
    const lock = parseLockfile(await readFile(join(project, 'dist/plugins/builder.lock.json'), 'utf8'));
    const builderRun = await cli(project, ['deploy', '--tag', lock.builder.image, '--json']);
    expect((JSON.parse(builderRun.stdout) as { error: { code: string } }).error.code).toBe('DEPLOY_TAG_REFUSED');

    // Invalid tags: refused in milliseconds, before any image is built; control characters shown escaped.
    for (const [tag, problem] of [
      ['pb-test/x:a\nWARN forged line', /not an image tag: it holds a space, a control character/],
      ['pb-test/X:1', /path component "X"/],
      ['pb-test/x@sha256:' + 'a'.repeat(64), /digest reference/],
      ['pb-test/x:' + 't'.repeat(129), /the tag/],
      ['pb-test/x:\u001b]52;c;cHduZWQ=\u0007', /control character/],
    ] as const) {
      const started = Date.now();
      const run = await cli(project, ['deploy', '--tag', tag]);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(problem);
      expect(run.stderr).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
      expect(run.stderr.split('\n').some((line) => line.startsWith('WARN forged'))).toBe(false);
      expect(Date.now() - started).toBeLessThan(10_000);
    }
    expect(await docker.listImages({ filters: { reference: ['plugin-builder/deploy-candidate'] } })).toEqual([]);
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
