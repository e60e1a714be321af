import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPlugin } from '../../src/building/build-plugin.js';
import type { PluginBuildPlan } from '../../src/building/plan-plugin-build.js';
import { DockerodeEngine } from '../../src/docker/dockerode-engine.js';
import { EngineLostError, UnsafeArtifactError } from '../../src/errors.js';
import { BASE_BOOKWORM, engine, requireDocker, skipDocker } from '../helpers/docker.js';
import { buildTestImage } from '../helpers/images.js';
import { EngineProxy } from '../helpers/engine-proxy.js';
import { cli } from '../helpers/project.js';

/**
 * Sources go into a build container on its stdin and the artifact comes out on its stdout, over
 * one attached connection (no archive calls). What this must survive: a container that writes
 * anything to that stdout, a transport that does not pass a half-close on (so the container is
 * told a length and never waits for an end-of-file), BusyBox's tar (which reads to end-of-file
 * whatever the archive says), a builder image without tar, and large sources.
 */
describe.skipIf(skipDocker)('sources in on stdin, artifact out on stdout (real engine)', () => {
  let work: string;
  let builderImage: string;
  const images: string[] = [];

  beforeAll(async () => {
    await requireDocker();
    work = await mkdtemp(join(tmpdir(), 'pb-piped-'));
    await mkdir(join(work, 'plugins/p'), { recursive: true });
    await writeFile(join(work, 'builder.config.json'), JSON.stringify({ host: { image: BASE_BOOKWORM }, plugins: [{ name: 'p', kind: 'c', path: 'plugins/p' }] }));
    await writeFile(join(work, 'plugins/p/p.c'), 'int p_add(int a, int b) { return a + b; }\n');
    const run = await cli(work, ['build', '--no-cache']);
    expect(run.code, run.stderr).toBe(0);
    builderImage = (JSON.parse(await readFile(join(work, 'builder.lock.json'), 'utf8')) as { builder: { image: string } }).builder.image;
  }, 300_000);

  afterAll(async () => {
    for (const image of images) await engine.removeImage(image).catch(() => undefined);
    if (work) await rm(work, { recursive: true, force: true });
  });

  async function staging(): Promise<string> {
    const dir = await mkdtemp(join(work, 'staging-'));
    return dir;
  }

  const plan = (script: string): PluginBuildPlan => ({ plugin: 'p', file: 'libp.so', cmd: ['sh', '-c', script], env: [], workdir: '/src/plugins/p', inputsHash: 'test', usesCache: false });
  const COMPILE = 'set -e; mkdir -p /out; gcc -shared -fPIC -O2 -o /out/libp.so p.c';
  const sources = [{ path: 'plugins/p/p.c', sha256: '' }];

  it('a build step that puts a symlink in /out: refused, nothing written', async () => {
    const dir = await staging();
    const error = await buildPlugin(engine, builderImage, plan('mkdir -p /out && ln -s /etc/passwd /out/libp.so'), work, sources, dir).then(() => null, (err: unknown) => err);
    expect(error).toBeInstanceOf(UnsafeArtifactError);
    expect((error as Error).message).toMatch(/out\/libp\.so.*symlink/);
    expect(await readdir(join(dir, 'p'))).toEqual([]);
  });

  it("a build step that writes garbage into the artifact channel (the wrapper shell's saved stdout, via /proc/1/fd): refused as not a tar archive, no hang", async () => {
    const dir = await staging();
    // dash parks the channel on a high descriptor of PID 1 while the step runs: try every one.
    const script = `${COMPILE}; wrote=0; for fd in /proc/1/fd/*; do case "$fd" in */0|*/1|*/2) continue;; esac; head -c 4096 /dev/urandom 2>/dev/null > "$fd" && wrote=1; done; test $wrote = 1`;
    const error = await buildPlugin(engine, builderImage, plan(script), work, sources, dir).then(() => null, (err: unknown) => err);
    expect(error).toBeInstanceOf(UnsafeArtifactError);
    expect((error as Error).message).toMatch(/not a tar archive|Refused build output entry/);
  });

  it('a build step that reads stdin gets nothing (the channel is not its to read), and its stdout lands in the output', async () => {
    const dir = await staging();
    const outcome = await buildPlugin(engine, builderImage, plan(`${COMPILE}; echo "stdin had $(wc -c) bytes"; echo to-stdout`), work, sources, dir);
    expect(outcome.ok, JSON.stringify(outcome)).toBe(true);
    expect(outcome.output).toContain('stdin had 0 bytes');
    expect(outcome.output).toContain('to-stdout');
  });

  it('a failing compile: its status and output, no artifact channel needed', async () => {
    const dir = await staging();
    const outcome = await buildPlugin(engine, builderImage, plan('echo broken >&2; exit 3'), work, sources, dir);
    expect(outcome).toMatchObject({ ok: false, reason: 'compiler exited with status 3' });
    expect(outcome.output).toContain('broken');
  });

  it('through a TCP proxy that does not pass a half-close on: 300 sources (12 MiB), the build completes, byte-identical to a direct one', async () => {
    const big = await mkdtemp(join(work, 'big-'));
    await mkdir(join(big, 'plugins/p/data'), { recursive: true });
    await writeFile(join(big, 'plugins/p/p.c'), 'int p_add(int a, int b) { return a + b; }\n');
    for (let i = 0; i < 300; i++) await writeFile(join(big, `plugins/p/data/blob-${i}.bin`), randomBytes(i === 0 ? 8 * 1024 * 1024 : 14_000));
    const files = [{ path: 'plugins/p/p.c', sha256: '' }, ...(await readdir(join(big, 'plugins/p/data'))).map((f) => ({ path: `plugins/p/data/${f}`, sha256: '' }))];
    const script = `${COMPILE}; test "$(cat data/* | wc -c)" = ${8 * 1024 * 1024 + 299 * 14_000}`;
    const proxy = await EngineProxy.start();
    try {
      const viaProxy = DockerodeEngine.fromEnv({ DOCKER_HOST: proxy.url });
      const a = await buildPlugin(viaProxy, builderImage, plan(script), big, files, await staging());
      const b = await buildPlugin(engine, builderImage, plan(script), big, files, await staging());
      expect(a.ok, JSON.stringify(a)).toBe(true);
      expect(b.ok).toBe(true);
      expect(a.ok && b.ok && a.sha256 === b.sha256).toBe(true);
    } finally {
      proxy.kill();
    }
  }, 120_000);

  it("BusyBox's tar and head (an Alpine builder): same artifact as GNU tar's", async () => {
    const busybox = await busyboxBinary(work);
    const image = 'plugin-builder/test-busybox-tar:bookworm';
    images.push(image);
    await buildTestImage(image, `FROM ${builderImage}\nCOPY busybox /usr/local/bin/busybox\nRUN chmod 0755 /usr/local/bin/busybox && rm /usr/bin/tar /usr/bin/head && ln -s /usr/local/bin/busybox /usr/bin/tar && ln -s /usr/local/bin/busybox /usr/bin/head\n`, { busybox });
    const which = execFileSync('docker', ['run', '--rm', image, 'sh', '-c', 'tar --help 2>&1 | head -n 1'], { encoding: 'utf8' });
    expect(which).toMatch(/BusyBox/);
    const viaBusybox = await buildPlugin(engine, image, plan(COMPILE), work, sources, await staging());
    const viaGnu = await buildPlugin(engine, builderImage, plan(COMPILE), work, sources, await staging());
    expect(viaBusybox.ok, JSON.stringify(viaBusybox)).toBe(true);
    expect(viaBusybox.ok && viaGnu.ok && viaBusybox.sha256 === viaGnu.sha256).toBe(true);
  }, 120_000);

  describe('a container that cannot take its input', () => {
    let big: string;
    let files: Array<{ path: string; sha256: string }>;

    beforeAll(async () => {
      // Far more than the socket buffers: a container that exits with it unread makes the
      // engine reset the connection.
      big = await mkdtemp(join(work, 'unread-'));
      await mkdir(join(big, 'plugins/p'), { recursive: true });
      await writeFile(join(big, 'plugins/p/p.c'), 'int p_add(int a, int b) { return a + b; }\n');
      await writeFile(join(big, 'plugins/p/blob.bin'), randomBytes(16 * 1024 * 1024));
      files = [{ path: 'plugins/p/blob.bin', sha256: '' }, { path: 'plugins/p/p.c', sha256: '' }];
    });

    it('no tar in the builder image: status 125 and why (the input is drained first), not ENGINE_LOST', async () => {
      const image = 'plugin-builder/test-no-tar:bookworm';
      images.push(image);
      await buildTestImage(image, `FROM ${builderImage}\nRUN rm /usr/bin/tar\n`);
      const outcome = await buildPlugin(engine, image, plan(COMPILE), big, files, await staging());
      expect(outcome).toMatchObject({ ok: false, reason: 'compiler exited with status 125' });
      expect(outcome.output).toContain('the builder image has no tar');
    });

    it('no head (nothing can read a counted input): the connection is reset, and the exit status still decides: 125, not ENGINE_LOST', async () => {
      const image = 'plugin-builder/test-no-head:bookworm';
      images.push(image);
      await buildTestImage(image, `FROM ${builderImage}\nRUN rm /usr/bin/head\n`);
      const outcome = await buildPlugin(engine, image, plan(COMPILE), big, files, await staging());
      expect(outcome).toMatchObject({ ok: false, reason: 'compiler exited with status 125' });
    });

    it('tar failing part-way through its input: its own error and status, the rest of the input drained (not a reset, not ENGINE_LOST)', async () => {
      const image = 'plugin-builder/test-failing-tar:bookworm';
      images.push(image);
      const fake = '#!/bin/sh\nhead -c 100000 >/dev/null\necho "tar: simulated failure after 100000 bytes" >&2\nexit 2\n';
      await buildTestImage(image, `FROM ${builderImage}\nCOPY fake-tar /usr/bin/tar\nRUN chmod 0755 /usr/bin/tar\n`, { 'fake-tar': Buffer.from(fake) });
      const outcome = await buildPlugin(engine, image, plan(COMPILE), big, files, await staging());
      expect(outcome).toMatchObject({ ok: false, reason: 'compiler exited with status 2' });
      expect(outcome.output).toContain('tar: simulated failure after 100000 bytes');
    });
  });

  it('a build step that never makes /out: "produced no libp.so", not a tar error blamed on the compiler', async () => {
    const outcome = await buildPlugin(engine, builderImage, plan('true'), work, sources, await staging());
    expect(outcome).toMatchObject({ ok: false, reason: 'the build produced no libp.so (found: nothing)' });
  });

  it('the engine lost while the artifact is streaming in: ENGINE_LOST, not an unsafe or broken artifact', async () => {
    const proxy = await EngineProxy.start();
    const dir = await staging();
    try {
      const viaProxy = DockerodeEngine.fromEnv({ DOCKER_HOST: proxy.url });
      const building = buildPlugin(viaProxy, builderImage, plan('mkdir -p /out; head -c 400M /dev/zero > /out/libp.so'), work, sources, dir).then(() => null, (err: unknown) => err);
      // Cut the connection once the artifact has started to land.
      const deadline = Date.now() + 60_000;
      while (!existsSync(join(dir, 'p/libp.so')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(existsSync(join(dir, 'p/libp.so'))).toBe(true);
      proxy.kill();
      const error = await building;
      expect(error).toBeInstanceOf(EngineLostError);
    } finally {
      proxy.kill();
      // What the cut run left (its container) is the next build's to sweep; here, remove it now.
      for (const id of execFileSync('docker', ['ps', '-aq', '--filter', 'label=io.plugin-builder.plugin=p'], { encoding: 'utf8' }).trim().split('\n').filter(Boolean)) execFileSync('docker', ['rm', '-f', id]);
    }
  }, 120_000);

  it('the compile time limit stops a piped run (and the container is gone)', async () => {
    const limited = DockerodeEngine.fromEnv(process.env, { runMs: 1500 });
    const started = Date.now();
    const outcome = await buildPlugin(limited, builderImage, plan('sleep 60'), work, sources, await staging());
    expect(outcome).toMatchObject({ ok: false });
    expect(outcome.ok === false && outcome.reason).toMatch(/time limit/);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(execFileSync('docker', ['ps', '-aq', '--filter', 'label=io.plugin-builder.plugin=p'], { encoding: 'utf8' }).trim()).toBe('');
  });
});

/** BusyBox, from Debian's busybox-static package (fetched with apt, unpacked, nothing installed). */
async function busyboxBinary(work: string): Promise<Buffer> {
  const dir = join(work, 'busybox-deb');
  await mkdir(dir);
  execFileSync('apt-get', ['download', 'busybox-static'], { cwd: dir, stdio: 'ignore' });
  const deb = (await readdir(dir)).find((f) => f.endsWith('.deb'));
  if (!deb) throw new Error('apt-get download busybox-static produced no .deb');
  execFileSync('dpkg-deb', ['-x', join(dir, deb), join(dir, 'root')]);
  return readFile(join(dir, 'root/bin/busybox'));
}
