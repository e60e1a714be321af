import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { acquireProjectLock, BuildLockedError, lockPathFor } from '../../../src/building/project-lock.js';
import { currentProcess } from '../../../src/util/process-identity.js';

const WORKER = resolve(import.meta.dirname, '../../helpers/lock-worker.ts');
const tempProject = () => mkdtemp(join(tmpdir(), 'pb-lock-'));

/** The pid of a process that has exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

describe('project lock', () => {
  it('a second holder fails at once with --no-wait, naming the holder; the lock goes on release', async () => {
    const lockfile = join(await tempProject(), 'builder.lock.json');
    const first = await acquireProjectLock(lockfile, { wait: false });
    const error = await acquireProjectLock(lockfile, { wait: false }).then(() => null, (err: unknown) => err);
    expect(error).toBeInstanceOf(BuildLockedError);
    expect((error as BuildLockedError).message).toContain(`pid ${process.pid} on ${hostname()}`);
    await first.release();
    const second = await acquireProjectLock(lockfile, { wait: false });
    await second.release();
    expect(await readdir(join(lockfile, '..'))).toEqual([]);
  });

  it('waits (saying so once) until the holder releases, and stops waiting when aborted', async () => {
    const lockfile = join(await tempProject(), 'builder.lock.json');
    const first = await acquireProjectLock(lockfile, { wait: false });
    const waits: number[] = [];
    const waiting = acquireProjectLock(lockfile, { wait: true, onWait: (h) => waits.push(h.pid) });
    await new Promise((r) => setTimeout(r, 700));
    await first.release();
    const second = await waiting;
    expect(waits).toEqual([process.pid]);
    const controller = new AbortController();
    const third = acquireProjectLock(lockfile, { wait: true, signal: controller.signal });
    setTimeout(() => controller.abort(new Error('stop')), 300);
    await expect(third).rejects.toThrow('stop');
    await second.release();
  });

  it('takes over the lock of a dead holder, and of a pid reused by another process', async () => {
    const lockfile = join(await tempProject(), 'builder.lock.json');
    await writeFile(lockPathFor(lockfile), JSON.stringify({ host: hostname(), pid: deadPid(), start: '1', since: 'then' }));
    (await acquireProjectLock(lockfile, { wait: false })).release();
    // Our own pid, but another start time: the process that wrote it is gone.
    await writeFile(lockPathFor(lockfile), JSON.stringify({ ...currentProcess(), start: '1', since: 'then' }));
    const lock = await acquireProjectLock(lockfile, { wait: false });
    await lock.release();
  });

  it('never takes over a live holder on another host, and refuses a foreign file', async () => {
    const lockfile = join(await tempProject(), 'builder.lock.json');
    await writeFile(lockPathFor(lockfile), JSON.stringify({ host: 'elsewhere', pid: 1, start: '1', since: 'then' }));
    await expect(acquireProjectLock(lockfile, { wait: false })).rejects.toThrow(/pid 1 on elsewhere/);
    await writeFile(lockPathFor(lockfile), 'garbage');
    await expect(acquireProjectLock(lockfile, { wait: false })).rejects.toThrow(/not a build lock/);
  });

  it('four processes racing for one stale lock never hold it at the same time', async () => {
    const dir = await tempProject();
    const lockfile = join(dir, 'builder.lock.json');
    const log = join(dir, 'log');
    await writeFile(lockPathFor(lockfile), JSON.stringify({ host: hostname(), pid: deadPid(), start: '1', since: 'then' }));
    const rounds = 15;
    const startAt = Date.now() + 2000;
    await Promise.all(
      Array.from({ length: 4 }, () => new Promise<void>((done, fail) => {
        const child = spawn(process.execPath, ['--import', 'tsx', WORKER, lockfile, log, String(rounds), String(startAt)], { stdio: 'inherit' });
        child.on('exit', (code) => (code === 0 ? done() : fail(new Error(`worker exited ${code}`))));
      })),
    );
    const lines = (await readFile(log, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(4 * rounds * 2);
    for (let i = 0; i < lines.length; i += 2) {
      expect(lines[i]).toMatch(/^enter \d+$/);
      expect(lines[i + 1]).toBe(lines[i]!.replace('enter', 'leave'));
    }
    expect((await readdir(dir)).sort()).toEqual(['log']);
  }, 60_000);
});
