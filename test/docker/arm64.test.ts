import { existsSync, readFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { arch } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readElf } from '../../src/elf/read-elf.js';
import { type MultiPlatformLockfile, parseLockDocument } from '../../src/lock/lockfile.js';
import type { VerifyReport } from '../../src/verify/verify-plugins.js';
import { GO_HOST_BOOKWORM, HOST_BOOKWORM, requireDocker, skipDocker } from '../helpers/docker.js';
import { startHostContainer } from '../helpers/host-container.js';
import { runWithFile } from '../helpers/images.js';
import { cli, copyProject, editJson } from '../helpers/project.js';
import { REGISTRY, requireRegistry } from '../helpers/registry.js';

const run = promisify(execFile);

const HOST_ARM64 = 'plugin-builder/example-host:bookworm-arm64';
const docker = new Docker();

/** arm64 programs run here: natively, or through qemu registered in binfmt_misc (scripts/ensure-emulation.sh). */
const emulation = arch() === 'arm64' || (existsSync('/proc/sys/fs/binfmt_misc/qemu-aarch64') && readFileSync('/proc/sys/fs/binfmt_misc/qemu-aarch64', 'utf8').startsWith('enabled'));
if (!emulation && process.env.CI !== 'true') console.warn('[arm64 tests skipped: no qemu-aarch64 in binfmt_misc — run scripts/ensure-emulation.sh]');

describe.skipIf(skipDocker || (!emulation && process.env.CI !== 'true'))('linux/amd64 and linux/arm64 hosts from one config (real engine; arm64 under qemu-user-static)', () => {
  let project: string;
  let keyDir: string;
  let empty: string;
  let plugins: string;
  let lockPath: string;
  const made: string[] = [];

  beforeAll(async () => {
    await requireDocker();
    if (!emulation) throw new Error('no qemu-aarch64 in binfmt_misc: scripts/ensure-emulation.sh registers it');
    project = await copyProject('examples/hello');
    keyDir = await mkdtemp(join(tmpdir(), 'pb-arm64-keys-'));
    empty = await mkdtemp(join(tmpdir(), 'pb-arm64-empty-'));
    await editJson(join(project, 'builder.config.json'), (c) => {
      c.host = { platforms: { 'linux/arm64': HOST_ARM64, 'linux/amd64': HOST_BOOKWORM } };
    });
    plugins = join(project, 'dist/plugins');
    lockPath = join(plugins, 'builder.lock.json');
  });

  afterAll(async () => {
    for (const ref of made) await docker.getImage(ref).remove().catch(() => {});
    for (const dir of [project, keyDir, empty]) if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the arm64 image is arm64 by its files, whatever its config says: the probe reads the architecture from the C library\'s ELF', async () => {
    const env = await cli(project, ['env', '--image', HOST_ARM64, '--json']);
    expect(env.code, env.stderr).toBe(0);
    expect(JSON.parse(env.stdout).fingerprint).toMatchObject({ arch: 'aarch64', os: { id: 'debian', versionId: '12' }, libc: { family: 'glibc', version: '2.36' } });
    // `docker import` recorded this machine's architecture (MACHINE.md): the config is not the truth.
    expect((await docker.getImage(HOST_ARM64).inspect()).Architecture).toBe('amd64');
  });

  it('examples/hello builds for both (C and Go c-shared; arm64 compiled under emulation): one lockfile section and artifact directory per platform, each ELF of its machine', async () => {
    const build = await cli(project, ['build', '--json']);
    expect(build.code, build.stderr).toBe(0);
    const report = JSON.parse(build.stdout) as { platforms: Array<{ platform: string; host: { image: string } }>; plugins: Array<{ name: string; platform: string; status: string }> };
    expect(report.platforms.map((p) => [p.platform, p.host.image])).toEqual([['linux/amd64', HOST_BOOKWORM], ['linux/arm64', HOST_ARM64]]);
    expect(report.plugins.map((p) => `${p.name} ${p.platform} ${p.status}`).sort()).toEqual(['greet linux/amd64 built', 'greet linux/arm64 built', 'shout linux/amd64 built', 'shout linux/arm64 built']);
    const text = await readFile(lockPath, 'utf8');
    const lock = parseLockDocument(text) as MultiPlatformLockfile;
    expect(Object.keys(lock.platforms)).toEqual(['linux/amd64', 'linux/arm64']);
    expect(Object.hasOwn(lock, 'host')).toBe(false);
    for (const [platform, machine] of [['linux/amd64', 'x86_64'], ['linux/arm64', 'aarch64']] as const) {
      const section = lock.platforms[platform]!;
      expect([section.host.fingerprint.arch, section.builder.fingerprint.arch]).toEqual([machine, machine]);
      for (const entry of Object.values(section.plugins)) {
        expect(readElf(await readFile(join(plugins, platform.replace('/', '-'), entry.file))).machine).toBe(machine);
        // Proven in that platform's own host image (arm64's under emulation), by its Node runtime.
        expect(entry.proof).toMatchObject({ result: 'loaded', imageId: section.host.imageId });
      }
    }
    // Nothing changed: nothing rebuilt, the lockfile keeps its bytes.
    const again = await cli(project, ['build', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect((JSON.parse(again.stdout) as typeof report).plugins.every((p) => p.status === 'unchanged')).toBe(true);
    expect(await readFile(lockPath, 'utf8')).toBe(text);
    expect((await cli(project, ['build', '--check'])).code).toBe(0);
  }, 1_800_000);

  it('verify and drift work per platform, each against its own host image', async () => {
    const verify = await cli(project, ['verify', '--json']);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    const report = JSON.parse(verify.stdout) as { outcome: string; platforms: Array<VerifyReport & { platform: string }> };
    expect(report.outcome).toBe('ok');
    expect(report.platforms.map((p) => [p.platform, p.plugins.map((x) => `${x.name} ${x.outcome}`)])).toEqual([
      ['linux/amd64', ['greet loads', 'shout loads']],
      ['linux/arm64', ['greet loads', 'shout loads']],
    ]);
    // Really loaded in the arm64 host image, under emulation, beside the prediction.
    const real = await cli(project, ['verify', '--platform', 'linux/arm64', '--real', '--json']);
    expect(real.code, real.stdout + real.stderr).toBe(0);
    const proven = (JSON.parse(real.stdout) as { platforms: VerifyReport[] }).platforms[0]!;
    expect(proven.real?.program).toContain('canary');
    expect(proven.plugins.map((p) => [p.name, p.answer, p.real?.result])).toEqual([['greet', 'proven', 'loaded'], ['shout', 'proven', 'loaded']]);
    const drift = await cli(project, ['drift', '--platform', 'linux/arm64', '--json']);
    expect(drift.code, drift.stdout + drift.stderr).toBe(0);
    expect(JSON.parse(drift.stdout)).toMatchObject({ outcome: 'no-drift', platforms: [{ platform: 'linux/arm64', outcome: 'no-drift' }] });
    const unknown = await cli(project, ['verify', '--platform', 'linux/riscv64']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('holds linux/amd64, linux/arm64, not linux/riscv64');
  }, 600_000);

  it('deployed per platform with the whole signed lockfile: the arm64 host runtime (Node and koffi for arm64, under qemu) picks its own entries, checks the signature and answers; so does the amd64 one', async () => {
    const keys = await cli(keyDir, ['keygen', '--out-dir', keyDir, '--name', 'ci', '--json']);
    expect(keys.code, keys.stderr).toBe(0);
    const { privateKey, publicKey } = JSON.parse(keys.stdout) as { privateKey: string; publicKey: string };
    const sign = await cli(project, ['sign', '--key', privateKey, '--json']);
    expect(sign.code, sign.stderr).toBe(0);
    expect(JSON.parse(sign.stdout).subjects).toBe(5);
    const which = await cli(project, ['deploy', '--tag', 'pb-test/never:x']);
    expect(which.code).toBe(2);
    expect(which.stderr).toContain('deploy works on one platform at a time');
    for (const [platform, machine] of [['linux/arm64', 'aarch64'], ['linux/amd64', 'x86_64']] as const) {
      const tag = `pb-test/multi-deployed:${platform.replace('/', '-')}`;
      made.push(tag);
      const deploy = await cli(project, ['deploy', '--platform', platform, '--tag', tag, '--trust-key', publicKey]);
      expect(deploy.code, deploy.stderr + deploy.stdout).toBe(0);
      const running = await startHostContainer(tag, empty, { args: ['--trust-dir', '/app/trust'] });
      try {
        const listed = await running.get('/plugins');
        expect(listed.body.trust).toBe('signed');
        const dir = platform.replace('/', '-');
        expect(listed.body.plugins?.map((p) => [p.name, p.status, p.file])).toEqual([['greet', 'loaded', `${dir}/libgreet.so`], ['shout', 'loaded', `${dir}/libshout.so`]]);
        expect(await running.post('/plugins/greet/call/Add', { args: [20, 22] })).toEqual({ status: 200, body: { result: 42 } });
        expect((await running.exec(['uname', '-m'])).output.trim()).toBe(machine);
        // Only this platform's artifacts were deployed: the other directory is not in the image.
        const other = platform === 'linux/arm64' ? 'linux-amd64' : 'linux-arm64';
        expect((await running.exec(['ls', '/app/plugins'])).output.split(/\s+/).filter(Boolean).sort()).toEqual(['builder.lock.json', 'builder.lock.json.sig', dir]);
        expect((await running.exec(['ls', `/app/plugins/${other}`])).output).toMatch(/No such file/);
      } finally {
        await running.stop();
      }
    }
  }, 900_000);

  it('published as one OCI index over both platforms (real registry): skopeo copies it whole, and each host (Node on arm64 and amd64, the Go pluginhost on amd64) pulls only its own part', async () => {
    requireRegistry();
    const repo = `${REGISTRY}/pb-test/multi-${process.pid}`;
    const published = await cli(project, ['publish', `${repo}:both`, '--json']);
    expect(published.code, published.stderr).toBe(0);
    const result = JSON.parse(published.stdout) as { pinned: string; mediaType: string; platforms: Array<{ platform: string; digest: string }> };
    expect(result.mediaType).toBe('application/vnd.oci.image.index.v1+json');
    expect(result.platforms.map((p) => p.platform)).toEqual(['linux/amd64', 'linux/arm64']);
    const index = JSON.parse((await run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${result.pinned}`])).stdout);
    expect(index.manifests.map((m: { platform: { architecture: string } }) => m.platform.architecture)).toEqual(['amd64', 'arm64']);
    // skopeo 1.9 copies the platform manifests and blobs byte for byte, but writes the index
    // anew without the OCI 1.1 artifactType (so --preserve-digests is refused): the copy is
    // pulled by the digest skopeo reports, and its platform manifests are ours.
    const out = await mkdtemp(join(tmpdir(), 'pb-arm64-pull-'));
    try {
      await run('skopeo', ['copy', '--all', '--src-tls-verify=false', '--dest-tls-verify=false', '--digestfile', join(out, 'digest'), `docker://${result.pinned}`, `docker://${repo}-copy:both`]);
      const digest = (await readFile(join(out, 'digest'), 'utf8')).trim();
      const copied = JSON.parse((await run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${repo}-copy@${digest}`])).stdout);
      expect(copied.manifests.map((m: { digest: string }) => m.digest)).toEqual(result.platforms.map((p) => p.digest));
      const pulled = await cli(project, ['pull', `${repo}-copy@${digest}`, '--platform', 'linux/arm64', '--dir', join(out, 'arm'), '--store', join(out, 'store')]);
      expect(pulled.code, pulled.stderr).toBe(0);
      expect((await readdir(join(out, 'arm'))).sort()).toEqual(['builder.lock.json', 'builder.lock.json.sig', 'linux-arm64']);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
    const pub = await readFile(join(keyDir, 'ci.pub'), 'utf8');
    for (const [image, machine, dir] of [[HOST_ARM64, 'aarch64', 'linux-arm64'], [HOST_BOOKWORM, 'x86_64', 'linux-amd64']] as const) {
      const running = await startHostContainer(image, empty, {
        command: (port) => ['node', '/app/dist/builder.js', 'host', '--from', result.pinned, '--store', '/tmp/store', '--trust-dir', '/app/trust', '--listen', '127.0.0.1', '--port', String(port)],
        trust: { 'ci.pub': pub },
      });
      try {
        const listed = await running.get('/plugins');
        expect(listed.body.lockfile).toMatchObject({ status: 'accepted', ref: result.pinned });
        expect(listed.body.plugins?.map((p) => [p.name, p.status, p.file])).toEqual([['greet', 'loaded', `${dir}/libgreet.so`], ['shout', 'loaded', `${dir}/libshout.so`]]);
        expect(await running.post('/plugins/greet/call/Add', { args: [20, 22] })).toEqual({ status: 200, body: { result: 42 } });
        expect((await running.exec(['uname', '-m'])).output.trim()).toBe(machine);
        const sets = (await running.exec(['sh', '-c', 'ls /tmp/store/sets/*/'])).output.split(/\s+/).filter(Boolean).sort();
        expect(sets).toEqual(['builder.lock.json', 'builder.lock.json.sig', dir]);
      } finally {
        await running.stop();
      }
    }
    // The Go pluginhost's registry source on the same index: it takes linux/amd64's manifest,
    // checks the signature, fetches only that platform's blobs. (These plugins are C and Go
    // c-shared, which a Go host does not load: each is refused by kind, the set accepted.)
    const go = await startHostContainer(GO_HOST_BOOKWORM, empty, {
      command: (port) => ['-listen', `127.0.0.1:${port}`, '-trust-dir', '/app/trust', '-from', result.pinned, '-store', '/tmp/store'],
      trust: { 'ci.pub': pub },
    });
    try {
      const listed = await go.get('/plugins');
      expect(listed.body.lockfile).toMatchObject({ status: 'accepted', ref: result.pinned, signedBy: [expect.any(String)] });
      expect(listed.body.plugins?.map((p) => [p.file, p.status])).toEqual([['linux-amd64/libgreet.so', 'rejected'], ['linux-amd64/libshout.so', 'rejected']]);
      const sets = (await go.exec(['sh', '-c', 'ls /tmp/store/sets/*/ /tmp/store/sets/*/linux-amd64'])).output.split(/\s+/).filter((x) => x && !x.endsWith(':')).sort();
      expect(sets).toEqual(['builder.lock.json', 'builder.lock.json.sig', 'libgreet.so', 'libshout.so', 'linux-amd64']);
    } finally {
      await go.stop();
    }
  }, 900_000);

  it('an arm64 .so on the amd64 host: verify predicts the failure, and the real loader fails', async () => {
    const verify = await cli(project, ['verify', '--platform', 'linux/arm64', '--image', HOST_BOOKWORM, '--dir', plugins, '--json']);
    expect(verify.code).toBe(1);
    const report = (JSON.parse(verify.stdout) as { platforms: VerifyReport[] }).platforms[0]!;
    expect(report.environment.map((d) => d.field)).toEqual(['arch']);
    const greet = report.plugins.find((p) => p.name === 'greet');
    expect(greet?.outcome).toBe('fails');
    expect(greet?.problems.find((p) => p.check === 'arch')?.message).toBe('built for aarch64, this host is x86_64');
    // The real loader (koffi's dlopen in the amd64 host image) on the same bytes.
    const real = await runWithFile(HOST_BOOKWORM, { path: '/tmp/libgreet.so', data: await readFile(join(plugins, 'linux-arm64/libgreet.so')) }, [
      'node',
      '-e',
      'const size = require("fs").statSync("/tmp/libgreet.so").size; try { require("/app/node_modules/koffi").load("/tmp/libgreet.so"); console.log("LOADED") } catch (e) { console.log(`FAILED (${size} bytes there) ${e.message}`) }',
    ]);
    // glibc's open_verify treats an ELF for another machine as absent (ENOENT), to go on searching
    // the path list: the file is there, and the loader still says "No such file".
    const size = (await readFile(join(plugins, 'linux-arm64/libgreet.so'))).length;
    expect(real.output.trim()).toBe(`FAILED (${size} bytes there) Failed to load shared library: cannot open shared object file: No such file or directory`);
  }, 300_000);

  it('a host image named for the wrong platform is refused before anything is built', async () => {
    const wrong = await copyProject('examples/hello');
    try {
      await editJson(join(wrong, 'builder.config.json'), (c) => {
        c.host = { platforms: { 'linux/arm64': HOST_BOOKWORM } };
      });
      const build = await cli(wrong, ['build']);
      expect(build.code).toBe(2);
      expect(build.stderr).toContain('host.platforms["linux/arm64"] is plugin-builder/example-host:bookworm, whose C library is built for x86_64 (linux/amd64), not aarch64');
    } finally {
      await rm(wrong, { recursive: true, force: true });
    }
  }, 300_000);
});
