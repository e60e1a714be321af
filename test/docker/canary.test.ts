import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Lockfile, parseLockfile, serializeLockfile } from '../../src/lock/lockfile.js';
import { buildCPlugins, type BuiltCPlugins, FORGE_REPORT } from '../helpers/c-plugins.js';
import { HOST_BOOKWORM, requireDocker, skipDocker } from '../helpers/docker.js';
import { type HostContainer, startHostContainer } from '../helpers/host-container.js';

const value = (n: number) => `int Value(void) { return ${n}; }\n`;
// A constructor that takes the loading process down, as a plugin with a null dereference at load would.
// A real fault (a null write), not raise(): node is PID 1 of the host container, which ignores a raised signal it has no handler for.
const crashing = `__attribute__((constructor)) static void boom(void) { volatile int *volatile p = 0; *p = 1; }\n${value(2)}`;
// A constructor that exits the process from inside dlopen (what ld.so does on an internal assertion: status 127).
const exiting = `#include <unistd.h>\n__attribute__((constructor)) static void bye(void) { _exit(127); }\n${value(3)}`;

// Steals the canary's nonce, reports itself loaded and the run done, then crashes.
const thief = `${FORGE_REPORT}__attribute__((constructor)) static void steal_then_crash(void) { forge(); volatile int *volatile p = 0; *p = 1; }\n${value(4)}`;
// Forks a child that keeps the canary's pipes open and sleeps: the canary must not wait for it.
const forker = `#include <unistd.h>\n__attribute__((constructor)) static void linger(void) { if (fork() == 0) { sleep(100000); _exit(0); } }\n${value(5)}`;

/** `dir`'s lockfile with `name`'s entry and file taken from `from`: the deployment of an update. */
async function update(dir: string, from: BuiltCPlugins, name: string): Promise<string> {
  const staged = await mkdtemp(join(tmpdir(), 'pb-canary-'));
  const lock = parseLockfile(await readFile(join(dir, 'builder.lock.json'), 'utf8'));
  const other = parseLockfile(await readFile(from.lock, 'utf8'));
  const next: Lockfile = { ...lock, plugins: { ...lock.plugins, [name]: other.plugins[name]! } };
  await cp(join(from.dir, `lib${name}.so`), join(staged, `lib${name}.so`));
  await writeFile(join(staged, 'builder.lock.json'), serializeLockfile(next));
  return staged;
}

describe.skipIf(skipDocker)('canary before every swap: builder host (real engine, real koffi)', () => {
  let v1: BuiltCPlugins;
  let crash: BuiltCPlugins;
  let exit: BuiltCPlugins;
  let stolen: BuiltCPlugins;
  let forked: BuiltCPlugins;
  let host: HostContainer | undefined;
  const temps: string[] = [];

  beforeAll(async () => {
    await requireDocker();
    v1 = await buildCPlugins(HOST_BOOKWORM, [{ name: 'p', source: value(1) }]);
    // The build's proof would refuse these: --no-prove makes what a stale or unproven lockfile delivers.
    crash = await buildCPlugins(HOST_BOOKWORM, [{ name: 'p', source: crashing }], undefined, ['--no-prove']);
    exit = await buildCPlugins(HOST_BOOKWORM, [{ name: 'p', source: exiting }], undefined, ['--no-prove']);
    stolen = await buildCPlugins(HOST_BOOKWORM, [{ name: 'p', source: thief }], undefined, ['--no-prove']);
    forked = await buildCPlugins(HOST_BOOKWORM, [{ name: 'p', source: forker }]);
  }, 600_000);
  afterAll(async () => {
    await host?.stop();
    // buildCPlugins' dir is <project>/dist/plugins; the staged updates are temp directories of their own.
    for (const built of [v1, crash, exit, stolen, forked]) if (built) await rm(join(built.dir, '../..'), { recursive: true, force: true });
    for (const dir of temps) await rm(dir, { recursive: true, force: true });
  });

  it('a constructor that crashes (SIGSEGV) or exits (127) is CANARY_CRASHED; the serving version keeps answering', async () => {
    host = await startHostContainer(HOST_BOOKWORM, v1.dir);
    expect((await host.post('/plugins/p/call/Value', { args: [] })).body).toEqual({ result: 1 });

    const crashed = await update(v1.dir, crash, 'p');
    temps.push(crashed);
    await host.deploy(crashed);
    const first = await host.put('/plugins/reload');
    expect(first.status).toBe(200);
    const p = first.body.plugins?.find((s) => s.name === 'p');
    expect(p).toMatchObject({ status: 'loaded', version: '1', code: 'CANARY_CRASHED' });
    expect(p?.reason).toMatch(/the canary process that loaded it first was killed by signal SIGSEGV/);
    expect((await host.post('/plugins/p/call/Value', { args: [] })).body).toEqual({ result: 1 });
    expect((await host.get('/healthz')).status).toBe(200);

    const exited = await update(v1.dir, exit, 'p');
    temps.push(exited);
    await host.deploy(exited);
    const second = await host.put('/plugins/reload');
    const q = second.body.plugins?.find((s) => s.name === 'p');
    expect(q).toMatchObject({ status: 'loaded', version: '1', code: 'CANARY_CRASHED' });
    expect(q?.reason).toMatch(/exited with status 127/);
    expect((await host.post('/plugins/p/call/Value', { args: [] })).body).toEqual({ result: 1 });
    // A plugin that steals the nonce and reports success before it crashes: a crash all the same.
    const thieving = await update(v1.dir, stolen, 'p');
    temps.push(thieving);
    await host.deploy(thieving);
    const third = await host.put('/plugins/reload');
    expect(third.body.plugins?.find((s) => s.name === 'p')).toMatchObject({ status: 'loaded', version: '1', code: 'CANARY_CRASHED' });
    expect((await host.post('/plugins/p/call/Value', { args: [] })).body).toEqual({ result: 1 });

    // A constructor that forks a child holding the canary's pipes: the swap still happens at once.
    const forking = await update(v1.dir, forked, 'p');
    temps.push(forking);
    await host.deploy(forking);
    const started = Date.now();
    const fourth = await host.put('/plugins/reload');
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(fourth.body.plugins?.find((s) => s.name === 'p')).toMatchObject({ status: 'loaded' });
    expect((await host.post('/plugins/p/call/Value', { args: [] })).body).toEqual({ result: 5 });

    // The service never went down: the same process, no restart.
    expect((await host.container.inspect()).RestartCount).toBe(0);
    expect((await host.container.inspect()).State.Running).toBe(true);
  }, 300_000);

  it('with --no-canary the same crash takes the service down (what the canary prevents)', async () => {
    const dir = await update(v1.dir, crash, 'p');
    temps.push(dir);
    const bare = await startHostContainer(HOST_BOOKWORM, v1.dir, { args: ['--no-canary'] });
    try {
      await bare.deploy(dir);
      await bare.put('/plugins/reload').catch(() => undefined);
      await new Promise((r) => setTimeout(r, 500));
      const state = (await bare.container.inspect()).State;
      expect(state.Running).toBe(false);
      expect(state.ExitCode).toBe(139);
    } finally {
      await bare.stop();
    }
  }, 300_000);
});
