import { execFileSync } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { DriftReport } from '../../src/drift/detect-drift.js';
import type { VerifyReport } from '../../src/verify/verify-plugins.js';
import { HOST_BOOKWORM, HOST_TRIXIE, requireDocker, skipDocker } from '../helpers/docker.js';
import { buildTestImage } from '../helpers/images.js';
import { cli, copyProject } from '../helpers/project.js';
import { flipByte } from '../helpers/bytes.js';

describe.skipIf(skipDocker)('builder verify and builder drift (real engine)', () => {
  let project: string;
  let plugins: string;

  beforeAll(async () => {
    await requireDocker();
    project = await copyProject('examples/hello');
    const run = await cli(project, ['build']);
    expect(run.code, run.stderr).toBe(0);
    plugins = join(project, 'dist/plugins');
  });

  it('verify passes for fresh plugins against their host image (lockfile found through the config)', async () => {
    const run = await cli(project, ['verify', '--json']);
    expect(run.code, run.stdout).toBe(0);
    const report = JSON.parse(run.stdout) as VerifyReport & { outcome: string };
    expect(report.outcome).toBe('ok');
    expect(report.environment).toEqual([]);
    expect(report.plugins.map((p) => [p.name, p.bytes, p.loadable, p.problems.length])).toEqual([
      ['greet', 'ok', true, 0],
      ['shout', 'ok', true, 0],
    ]);
    const text = await cli(project, ['verify']);
    expect(text.stdout).toContain('environment: matches the lockfile');
    expect(text.stdout).toContain('2 plugin(s), 0 with problems');
  });

  it('verify --dir refuses a FIFO, a directory or a symlink where a plugin should be, without blocking on the FIFO', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pb-verify-special-'));
    await cp(join(plugins, 'builder.lock.json'), join(dir, 'builder.lock.json'));
    execFileSync('mkfifo', [join(dir, 'libgreet.so')]);
    await mkdir(join(dir, 'libshout.so'));
    const run = await cli(dir, ['verify', '--dir', dir, '--json']);
    expect(run.code, run.stderr).toBe(1);
    const report = JSON.parse(run.stdout) as VerifyReport;
    expect(report.plugins.map((p) => [p.name, p.bytes, p.outcome, p.problems[0]?.message])).toEqual([
      ['greet', 'mismatch', 'unknown', `plugin file ${join(dir, 'libgreet.so')} is a FIFO; only regular files are read.`],
      ['shout', 'mismatch', 'unknown', `plugin file ${join(dir, 'libshout.so')} is a directory; only regular files are read.`],
    ]);
    await rm(join(dir, 'libshout.so'), { recursive: true });
    await symlink(join(plugins, 'libshout.so'), join(dir, 'libshout.so'));
    const linked = JSON.parse((await cli(dir, ['verify', '--dir', dir, '--json'])).stdout) as VerifyReport;
    expect(linked.plugins[1]?.problems[0]?.message).toContain('is a symbolic link; it is not followed');
    await rm(dir, { recursive: true, force: true });
  });

  it('verify reads the plugins out of an image and flags a tampered one there', async () => {
    const tampered = await readFile(join(plugins, 'libshout.so'));
    flipByte(tampered, 4096, 0x10);
    const tag = 'plugin-builder/test-deployed:tampered';
    await buildTestImage(tag, `FROM ${HOST_BOOKWORM}\nCOPY libgreet.so libshout.so builder.lock.json /app/plugins/\n`, {
      'libgreet.so': await readFile(join(plugins, 'libgreet.so')),
      'libshout.so': tampered,
      'builder.lock.json': await readFile(join(plugins, 'builder.lock.json')),
    });
    const run = await cli(project, ['verify', '--image', tag, '--lock', join(plugins, 'builder.lock.json'), '--json']);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as VerifyReport;
    expect(report.plugins.find((p) => p.name === 'greet')?.problems).toEqual([]);
    const shout = report.plugins.find((p) => p.name === 'shout');
    expect(shout?.bytes).toBe('mismatch');
    expect(shout?.problems.map((p) => p.check)).toEqual(['bytes']);
    expect(shout?.problems[0]?.message).toContain(`${tag}:/app/plugins/libshout.so has sha256`);
  });

  it('verify against another environment names the fields, and still predicts the load', async () => {
    const run = await cli(project, ['verify', '--image', HOST_TRIXIE, '--dir', plugins]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('environment: DIFFERS from the lockfile: libc.version 2.36 → 2.41, os.versionId 12 → 13');
    expect(run.stdout).toMatch(/greet\s+PROBLEMS\s+bytes ok, loads/);
  });

  it('drift: none for the same image, benign for a rebuilt image with the same environment', async () => {
    const same = await cli(project, ['drift', '--image', HOST_BOOKWORM, '--json']);
    expect(same.code, same.stdout).toBe(0);
    expect((JSON.parse(same.stdout) as DriftReport).outcome).toBe('no-drift');

    const tag = 'plugin-builder/test-rebuilt:bookworm';
    const rebuiltId = await buildTestImage(tag, `FROM ${HOST_BOOKWORM}\nLABEL rebuilt="${Date.now()}"\n`);
    const benign = await cli(project, ['drift', '--image', tag, '--json']);
    expect(benign.code).toBe(0);
    const report = JSON.parse(benign.stdout) as DriftReport;
    expect(report.outcome).toBe('benign');
    expect(report.imageId.current).toBe(rebuiltId);
    expect(report.differences).toEqual([]);
    expect(report.plugins.every((p) => !p.mustRebuild)).toBe(true);
  });

  it('drift: breaking when the host moves to trixie, listing every plugin and whether it would still load', async () => {
    const run = await cli(project, ['drift', '--image', HOST_TRIXIE, '--json']);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as DriftReport;
    expect(report.outcome).toBe('breaking');
    expect(report.differences).toEqual([
      { field: 'libc.version', expected: '2.36', actual: '2.41' },
      { field: 'os.versionId', expected: '12', actual: '13' },
    ]);
    expect(report.plugins.map((p) => [p.name, p.mustRebuild, p.stillLoads])).toEqual([
      ['greet', true, true],
      ['shout', true, true],
    ]);
    const text = await cli(project, ['drift', '--image', HOST_TRIXIE]);
    expect(text.stdout).toContain('BREAKING drift');
    expect(text.stdout).toContain('libc.version: 2.36 → 2.41');
  });

  it('verify exits 2 when the check itself cannot run (no lockfile)', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'pb-empty-'));
    const run = await cli(empty, ['verify', '--dir', empty]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('No lockfile');
  });
});
