import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprintHash } from '../../src/env/fingerprint.js';
import { parseLockfile } from '../../src/lock/lockfile.js';
import { requireDocker, skipDocker } from '../helpers/docker.js';
import { cli, copyProject, editJson } from '../helpers/project.js';

/**
 * The repository's lockfile is input: it decides what may be skipped, never what is true. The
 * red team edited it to call the bookworm host "debian 13, glibc 2.41"; the build re-hashed and
 * signed the lie and --check passed. And a lockfile that cannot be read (a half-merged
 * conflict) was taken for none, and `build a` wrote one holding only `a`.
 */
describe.skipIf(skipDocker)('the lockfile as input (real engine)', () => {
  let project: string;
  let keyDir: string;
  let lockfile: string;

  beforeAll(async () => {
    await requireDocker();
    project = await copyProject('examples/hello');
    lockfile = join(project, 'dist/plugins/builder.lock.json');
    keyDir = await mkdtemp(join(tmpdir(), 'pb-lockinput-keys-'));
    expect((await cli(keyDir, ['keygen', '--out-dir', keyDir, '--name', 'ci'])).code).toBe(0);
    const first = await cli(project, ['build']);
    expect(first.code, first.stderr).toBe(0);
  }, 600_000);

  afterAll(async () => {
    for (const dir of [project, keyDir]) if (dir) await rm(dir, { recursive: true, force: true });
  });

  const lie = () =>
    editJson(lockfile, (value) => {
      const lock = value as { host: { fingerprint: { os: { versionId: string }; libc: { version: string } }; fingerprintHash: string } };
      lock.host.fingerprint.os.versionId = '13';
      lock.host.fingerprint.libc.version = '2.41';
      lock.host.fingerprintHash = fingerprintHash(lock.host.fingerprint as never);
    });

  it('--check does not vouch for environment facts the probes contradict', async () => {
    const truth = parseLockfile(await readFile(lockfile, 'utf8'));
    await lie();
    const check = await cli(project, ['build', '--check', '--json']);
    expect(check.code, check.stdout).toBe(1);
    const report = JSON.parse(check.stdout) as { outcome: string; plugins: Array<{ status: string; reason?: string }> };
    expect(report.outcome).toBe('check-failed');
    for (const p of report.plugins) {
      expect(p.status).toBe('differs');
      expect(p.reason).toContain(`host.fingerprint.libc.version: "2.41" → "${truth.host.fingerprint.libc.version}"`);
      expect(p.reason).toContain(`host.fingerprint.os.versionId: "13" → "${truth.host.fingerprint.os.versionId}"`);
    }
  });

  it('build --sign-key signs what the probes found, not what the lockfile claimed', async () => {
    await lie();
    const run = await cli(project, ['build', '--sign-key', join(keyDir, 'ci.key')]);
    expect(run.code, run.stderr).toBe(0);
    const lock = parseLockfile(await readFile(lockfile, 'utf8'));
    expect(lock.host.fingerprint.libc.version).toBe('2.36');
    expect(lock.host.fingerprint.os.versionId).toBe('12');
    expect(lock.host.fingerprintHash).toBe(fingerprintHash(lock.host.fingerprint));
    const envelope = JSON.parse(await readFile(`${lockfile}.sig`, 'utf8')) as { payload: string };
    expect(Buffer.from(envelope.payload, 'base64').toString('utf8')).not.toContain('2.41');
    const check = await cli(project, ['build', '--check']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
  });

  it('--check fails on any claim no build writes: a forged pluginPath, deps, a source that does not exist, another host image name', async () => {
    const good = await readFile(lockfile, 'utf8');
    try {
      await editJson(lockfile, (value) => {
        const lock = value as { host: { image: string }; plugins: Record<string, { sources?: Record<string, string>; goVersion?: string }> };
        lock.host.image = 'evil/host:latest';
        lock.plugins.shout!.goVersion = 'go9.9';
        lock.plugins.greet!.sources = { ...lock.plugins.greet!.sources, 'plugins/greet/ghost.c': 'c'.repeat(64) };
      });
      const check = await cli(project, ['build', '--check', '--json']);
      expect(check.code, check.stdout).toBe(1);
      const reasons = (JSON.parse(check.stdout) as { plugins: Array<{ reason?: string }> }).plugins.map((p) => p.reason ?? '').join('\n');
      expect(reasons).toContain('host.image: "evil/host:latest" →');
      expect(reasons).toContain('plugins.shout.goVersion: "go9.9" →');
      expect(reasons).toContain('plugins.greet.sources.plugins/greet/ghost.c:');
    } finally {
      await writeFile(lockfile, good);
    }
  });

  it('build NAME --sign-key signs kept entries only when this key signed them before and their artifacts are the locked bytes', async () => {
    const key = join(keyDir, 'ci.key');
    expect((await cli(project, ['build', '--sign-key', key])).code).toBe(0);
    const good = await readFile(lockfile, 'utf8');
    const sig = await readFile(`${lockfile}.sig`, 'utf8');
    // Honest: the lockfile carries this key's signature, the artifacts are intact.
    const honest = await cli(project, ['build', 'greet', '--sign-key', key]);
    expect(honest.code, honest.stderr).toBe(0);
    const artifact = join(project, 'dist/plugins/libshout.so');
    const bytes = await readFile(artifact);
    try {
      // An attacker rewrites shout's entry (and plants matching bytes): the old signature no longer covers the lockfile.
      const planted = Buffer.concat([bytes, Buffer.from('planted')]);
      await writeFile(artifact, planted);
      await editJson(lockfile, (value) => {
        const lock = value as { plugins: Record<string, { sha256: string; size: number }> };
        lock.plugins.shout!.sha256 = createHash('sha256').update(planted).digest('hex');
        lock.plugins.shout!.size = planted.length;
      });
      const edited = await readFile(lockfile, 'utf8');
      const forged = await cli(project, ['build', 'greet', '--sign-key', key, '--json']);
      expect(forged.code, forged.stdout).toBe(1);
      expect((JSON.parse(forged.stdout) as { error: { code: string } }).error.code).toBe('UNSIGNED_KEPT_PLUGINS');
      expect(await readFile(lockfile, 'utf8')).toBe(edited);
      expect(await readFile(`${lockfile}.sig`, 'utf8')).toBe(sig);
      // The red team's form: the entry edited, the artifact left as it was.
      await writeFile(artifact, bytes);
      const stale = await cli(project, ['build', 'greet', '--sign-key', key, '--json']);
      expect(stale.code).toBe(1);
      expect((JSON.parse(stale.stdout) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'HASH_MISMATCH', message: expect.stringContaining('shout (libshout.so)') });
    } finally {
      await writeFile(artifact, bytes);
      await writeFile(lockfile, good);
      await writeFile(`${lockfile}.sig`, sig);
    }
  });

  it('a lockfile with git conflict markers stops plan, build NAME and build (LOCKFILE_INVALID, the line named); nothing is written', async () => {
    const good = await readFile(lockfile, 'utf8');
    const lines = good.split('\n');
    const conflicted = [...lines.slice(0, 3), '<<<<<<< HEAD', ...lines.slice(3, 5), '=======', ...lines.slice(3, 5), '>>>>>>> feature', ...lines.slice(5)].join('\n');
    await writeFile(lockfile, conflicted);
    const before = await stat(lockfile);
    for (const args of [['plan', '--json'], ['build', 'greet', '--json'], ['build', '--json'], ['prepare', '--json']]) {
      const run = await cli(project, args);
      if (args[0] === 'prepare') {
        // prepare never reads the lockfile: it makes the builder image and writes nothing.
        expect(run.code, run.stdout).toBe(0);
        continue;
      }
      expect(run.code, `${args.join(' ')}: ${run.stdout}`).toBe(2);
      const error = (JSON.parse(run.stdout) as { error: { code: string; message: string; fix: string } }).error;
      expect(error.code).toBe('LOCKFILE_INVALID');
      expect(error.message).toContain('git conflict markers at line 4');
      expect(error.fix).toMatch(/restore it from version control|Regenerate/);
    }
    expect(await readFile(lockfile, 'utf8')).toBe(conflicted);
    expect((await stat(lockfile)).mtimeMs).toBe(before.mtimeMs);
    await writeFile(lockfile, good);
  });

  it('a lockfile that is a symlink, a FIFO or over the limit is refused by name, not taken for none', async () => {
    const good = await readFile(lockfile, 'utf8');
    try {
      await writeFile(lockfile, `${good.slice(0, -2)}${' '.repeat(1024 * 1024)}}\n`);
      const big = await cli(project, ['plan', '--json']);
      expect(big.code).toBe(2);
      expect((JSON.parse(big.stdout) as { error: { code: string; message: string } }).error).toMatchObject({ code: 'LOCKFILE_INVALID', message: expect.stringContaining('more than the limit of 1048576') });
    } finally {
      await writeFile(lockfile, good);
    }
  });
});
