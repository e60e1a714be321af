import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { managedLabels } from '../../src/docker/engine.js';
import { HOST_BOOKWORM, requireDocker, skipDocker } from '../helpers/docker.js';
import { cli, copyProject } from '../helpers/project.js';

const docker = new Docker();

/**
 * The real host runtime's trust directory rules (ssh's StrictModes, adapted): a trust directory
 * others may write is refused — unless it is mounted read-only, as Kubernetes mounts a secret
 * (1777, ro); a named trust directory with no key is refused. Bind mounts from this machine
 * stand in for the volumes.
 */
describe.skipIf(skipDocker)('trust directory modes in the real host (bind mounts, ro and rw)', () => {
  let project: string;
  let keyDir: string;
  let trust: string;

  beforeAll(async () => {
    await requireDocker();
    project = await copyProject('examples/hello');
    keyDir = await mkdtemp(join(tmpdir(), 'pb-trustmodes-keys-'));
    expect((await cli(keyDir, ['keygen', '--out-dir', keyDir, '--name', 'ci'])).code).toBe(0);
    expect((await cli(project, ['build', '--sign-key', join(keyDir, 'ci.key')])).code).toBe(0);
    trust = await mkdtemp(join(tmpdir(), 'pb-trustmodes-dir-'));
    await writeFile(join(trust, 'ci.pub'), await readFile(join(keyDir, 'ci.pub')));
    await chmod(join(trust, 'ci.pub'), 0o644);
  }, 600_000);

  afterAll(async () => {
    for (const dir of [project, keyDir, trust]) if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** `builder host --trust-dir /app/trust` with `trust` bind-mounted there: its exit code and output, or what it logged within 5 s. */
  async function runHost(mode: 'ro' | 'rw', dirMode: number): Promise<{ running: boolean; exitCode: number | null; logs: string }> {
    await chmod(trust, dirMode);
    const container = await docker.createContainer({
      Image: HOST_BOOKWORM,
      Cmd: ['node', '/app/dist/builder.js', 'host', '--plugins', '/app/plugins', '--trust-dir', '/app/trust', '--port', '0', '--listen', '127.0.0.1'],
      Labels: managedLabels('test-host'),
      HostConfig: { NetworkMode: 'none', Binds: [`${trust}:/app/trust:${mode}`, `${join(project, 'dist/plugins')}:/app/plugins:ro`] },
    });
    try {
      await container.start();
      let state = await container.inspect();
      for (let i = 0; i < 50 && state.State.Running; i++) {
        const logs = ((await container.logs({ stdout: true, stderr: true })) as unknown as Buffer).toString('utf8');
        if (logs.includes('listening on')) break;
        await new Promise((r) => setTimeout(r, 100));
        state = await container.inspect();
      }
      const logs = ((await container.logs({ stdout: true, stderr: true })) as unknown as Buffer).toString('utf8');
      return { running: state.State.Running, exitCode: state.State.Running ? null : state.State.ExitCode, logs };
    } finally {
      await container.remove({ force: true });
    }
  }

  it('a world-writable trust directory is refused on a read-write mount, accepted on a read-only one (Kubernetes secrets)', async () => {
    const rw = await runHost('rw', 0o777);
    expect(rw.running).toBe(false);
    expect(rw.exitCode).toBe(2);
    expect(rw.logs).toMatch(/The trust directory \/app\/trust is writable by every user \(mode 777\)/);
    const ro = await runHost('ro', 0o1777);
    expect(ro.logs).toContain('listening on');
    expect(ro.logs).toContain('trust: signed');
    const ok = await runHost('rw', 0o755);
    expect(ok.logs).toContain('trust: signed');
  });

  it('a named trust directory with no key: the host does not start unsigned', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'pb-trustmodes-empty-'));
    const saved = trust;
    try {
      trust = empty;
      const run = await runHost('ro', 0o755);
      expect(run.exitCode).toBe(2);
      expect(run.logs).toContain('holds no key (*.pub): naming a trust directory means lockfiles must be signed');
    } finally {
      trust = saved;
      await rm(empty, { recursive: true, force: true });
    }
  });
});
