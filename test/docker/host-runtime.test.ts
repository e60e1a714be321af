import { writeFileSync } from 'node:fs';
import { cp, mkdtemp, readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fingerprintHash } from '../../src/env/fingerprint.js';
import { probeImage } from '../../src/env/probe-image.js';
import { type Lockfile, parseLockfile, serializeLockfile } from '../../src/lock/lockfile.js';
import { createKoffiLoader } from '../../src/runtime/koffi-native.js';
import { createSealer } from '../../src/runtime/create-sealer.js';
import type { NativeLoader } from '../../src/runtime/native-loader.js';
import { PluginHost, type PluginStatus } from '../../src/runtime/plugin-host.js';
import { engine, HOST_BOOKWORM, HOST_TRIXIE, requireDocker, skipDocker } from '../helpers/docker.js';
import { type HostContainer, startHostContainer } from '../helpers/host-container.js';
import { runContainer } from '../helpers/images.js';
import { buildCopies } from '../helpers/project.js';
import { flipByte } from '../helpers/bytes.js';

const byName = (plugins: PluginStatus[] | undefined, name: string) => plugins?.find((p) => p.name === name);

/** A deployable copy of built plugins (the .so files and their lockfile). */
async function pluginDirCopy(from: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pb-plugins-'));
  await cp(from, dir, { recursive: true });
  return dir;
}

describe.skipIf(skipDocker)('host runtime in host images (real engine, real koffi)', () => {
  let built: string; // dist/plugins of the example, built for the bookworm host
  let v2: string; // dist/plugins of greet v2
  const running: HostContainer[] = [];
  const start = async (image: string, dir: string) => {
    const host = await startHostContainer(image, dir);
    running.push(host);
    return host;
  };

  beforeAll(async () => {
    await requireDocker();
    [built] = (await buildCopies(['examples/hello'])) as [string];
    // greet-v2 carries a plugin without a manifest, for the runtime to refuse: the build's proof would refuse it first.
    [v2] = (await buildCopies(['test/fixtures/greet-v2'], ['--no-prove'])) as [string];
  });

  afterAll(async () => {
    await Promise.all(running.map((h) => h.stop()));
  });

  it.each([HOST_BOOKWORM, HOST_TRIXIE])('the live fingerprint inside %s equals the probe of the image', async (image) => {
    const probed = await probeImage(engine, image, 'host');
    const live = await runContainer(image, ['node', '/app/dist/builder.js', 'env', '--json']);
    expect(live.exitCode, live.output).toBe(0);
    const answer = JSON.parse(live.output) as { fingerprintHash: string; fingerprint: unknown };
    expect(answer.fingerprint).toEqual(probed.fingerprint);
    expect(answer.fingerprintHash).toBe(fingerprintHash(probed.fingerprint));
  });

  it('serves C and Go functions of verified plugins over HTTP', async () => {
    const host = await start(HOST_BOOKWORM, built);
    const { body } = await host.get('/plugins');
    expect(body.plugins?.map((p) => [p.name, p.status, p.version])).toEqual([
      ['greet', 'loaded', '1.0.0'],
      ['shout', 'loaded', '1.0.0'],
    ]);
    expect(await host.post('/plugins/greet/call/Add', { args: [2, 40] })).toEqual({ status: 200, body: { result: 42 } });
    expect(await host.post('/plugins/greet/call/Greet', { args: ['Ada'] })).toEqual({ status: 200, body: { result: 'Hello, Ada!' } });
    expect(await host.post('/plugins/shout/call/Double', { args: [21] })).toEqual({ status: 200, body: { result: 42 } });
    expect(await host.post('/plugins/shout/call/Shout', { args: ['plugins'] })).toEqual({ status: 200, body: { result: 'PLUGINS!' } });
    expect((await host.post('/plugins/greet/call/Add', { args: [1] })).status).toBe(400);
    expect((await host.post('/plugins/greet/call/Add', { args: ['1', 2] })).status).toBe(400);
    expect((await host.post('/plugins/greet/call/Nope', { args: [] })).status).toBe(404);
    expect((await host.post('/plugins/nope/call/Add', { args: [1, 2] })).status).toBe(404);
    expect((await host.get('/healthz')).body).toMatchObject({ status: 'ok', trust: 'unsigned', lockfile: 'accepted' });
  });

  it('rejects a plugin with one flipped byte and an unlisted .so; the others keep working', async () => {
    const dir = await pluginDirCopy(built);
    const shout = await readFile(join(dir, 'libshout.so'));
    flipByte(shout, shout.length >> 1);
    await writeFile(join(dir, 'libshout.so'), shout);
    await cp(join(dir, 'libgreet.so'), join(dir, 'libextra.so'));

    const host = await start(HOST_BOOKWORM, dir);
    const { body } = await host.get('/plugins');
    expect(byName(body.plugins, 'shout')).toMatchObject({ status: 'rejected', code: 'HASH_MISMATCH' });
    expect(byName(body.plugins, 'shout')?.reason).toMatch(/sha256 [0-9a-f]{64} does not match the lockfile's [0-9a-f]{64}/);
    expect(byName(body.plugins, 'libextra.so')).toMatchObject({ status: 'rejected', code: 'UNKNOWN_PLUGIN' });
    expect(byName(body.plugins, 'greet')?.status).toBe('loaded');
    expect((await host.post('/plugins/greet/call/Add', { args: [1, 2] })).body).toEqual({ result: 3 });
    expect((await host.post('/plugins/shout/call/Double', { args: [1] })).status).toBe(404);
  });

  it('refuses everything in a host whose environment differs (trixie), naming the fields', async () => {
    const host = await start(HOST_TRIXIE, built);
    const { body } = await host.get('/plugins');
    expect(body.plugins?.map((p) => [p.name, p.status, p.code])).toEqual([
      ['greet', 'rejected', 'ENVIRONMENT_MISMATCH'],
      ['shout', 'rejected', 'ENVIRONMENT_MISMATCH'],
    ]);
    const reason = byName(body.plugins, 'greet')?.reason ?? '';
    expect(reason).toContain('libc.version: 2.36 → 2.41');
    expect(reason).toContain('os.versionId: 12 → 13');
    expect((await host.post('/plugins/greet/call/Add', { args: [1, 2] })).status).toBe(404);
  });

  it('reload loads a new version; a tampered update is rejected and the good version keeps answering', async () => {
    const host = await start(HOST_BOOKWORM, built);
    expect((await host.post('/plugins/greet/call/Add', { args: [1, 2] })).body).toEqual({ result: 3 });

    // Deploy greet 2.0.0: its .so and a lockfile whose greet entry is v2's.
    const lock = parseLockfile(await readFile(join(built, 'builder.lock.json'), 'utf8'));
    const lockV2 = parseLockfile(await readFile(join(v2, 'builder.lock.json'), 'utf8'));
    const next: Lockfile = { ...lock, plugins: { ...lock.plugins, greet: lockV2.plugins.greet! } };
    const staged = await mkdtemp(join(tmpdir(), 'pb-deploy-'));
    await cp(join(v2, 'libgreet.so'), join(staged, 'libgreet.so'));
    await writeFile(join(staged, 'builder.lock.json'), serializeLockfile(next));
    await host.deploy(staged);

    const reloaded = await host.post('/plugins/reload');
    expect(byName(reloaded.body.plugins, 'greet')).toMatchObject({ status: 'loaded', version: '2.0.0', sha256: lockV2.plugins.greet!.sha256 });
    expect(byName(reloaded.body.plugins, 'shout')).toMatchObject({ status: 'loaded', version: '1.0.0' });
    expect((await host.post('/plugins/greet/call/Add', { args: [1, 2] })).body).toEqual({ result: 1003 });

    // Now tamper: the lockfile still says v2, the file on disk is v1 with a flipped byte.
    const tampered = await readFile(join(built, 'libgreet.so'));
    flipByte(tampered, 100, 0xff);
    await writeFile(join(staged, 'libgreet.so'), tampered);
    await host.deploy(staged, ['libgreet.so']);
    const next2: Lockfile = { ...next, plugins: { ...next.plugins, greet: { ...next.plugins.greet!, sha256: lock.plugins.greet!.sha256.replace(/^./, 'f'), size: lock.plugins.greet!.size } } };
    await writeFile(join(staged, 'builder.lock.json'), serializeLockfile(next2));
    await host.deploy(staged, ['builder.lock.json']);
    const rejected = await host.put('/plugins/reload');
    const greet = byName(rejected.body.plugins, 'greet');
    expect(greet).toMatchObject({ status: 'loaded', version: '2.0.0', code: 'HASH_MISMATCH' });
    expect(greet?.reason).toContain('rejected');
    expect((await host.post('/plugins/greet/call/Add', { args: [1, 2] })).body).toEqual({ result: 1003 });
  });

  it('keeps answering correctly under a bounded load (10k calls, 20 concurrent clients)', async () => {
    const host = await start(HOST_BOOKWORM, built);
    const total = 10_000;
    const clients = 20;
    let next = 0;
    let wrong = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: clients }, async () => {
        while (next < total) {
          const i = next++;
          const useGo = i % 2 === 1;
          const res = await fetch(`${host.url}/plugins/${useGo ? 'shout/call/Double' : 'greet/call/Add'}`, {
            method: 'POST',
            body: JSON.stringify({ args: useGo ? [i] : [i, 1] }),
          });
          const answer = (await res.json()) as { result?: number };
          if (res.status !== 200 || answer.result !== (useGo ? i * 2 : i + 1)) wrong++;
        }
      }),
    );
    const seconds = (performance.now() - started) / 1000;
    console.log(`[load] ${total} calls, ${clients} clients: ${(total / seconds).toFixed(0)} calls/s (${seconds.toFixed(2)} s)`);
    expect(wrong).toBe(0);
    expect((await host.get('/healthz')).status).toBe(200);
  }, 180_000);
  it('rejects, with koffi for real, a .so without the registration manifest', async () => {
    const lock = parseLockfile(await readFile(join(v2, 'builder.lock.json'), 'utf8'));
    const dir = await pluginDirCopy(v2);
    const host = await PluginHost.open({ pluginDir: dir, loader: await createKoffiLoader(), sealer: await createSealer('memfd'), liveEnvironment: lock.host.fingerprint });
    const status = host.plugins().find((p) => p.name === 'nomanifest');
    expect(status).toMatchObject({ status: 'rejected', code: 'BAD_MANIFEST' });
    expect(status?.reason).toContain('builder_plugin_manifest');
    expect(host.plugins().find((p) => p.name === 'greet')?.status).toBe('loaded');
    await host.close();
  });

  describe('swapping the file during verify-and-load (in this process, real koffi)', () => {
    async function raceSetup() {
      const dir = await mkdtemp(join(tmpdir(), 'pb-race-'));
      const lock = parseLockfile(await readFile(join(built, 'builder.lock.json'), 'utf8'));
      // Only greet: the point is its bytes. The lockfile's own environment is injected as the
      // live one, so this test is about hashes whatever machine runs it.
      await writeFile(join(dir, 'builder.lock.json'), serializeLockfile({ ...lock, plugins: { greet: lock.plugins.greet! } }));
      const good = await readFile(join(built, 'libgreet.so'));
      const evil = await readFile(join(v2, 'libgreet.so')); // a valid, loadable .so with other behaviour
      await writeFile(join(dir, 'libgreet.so'), good);
      return { dir, lock, good, evil, koffi: await createKoffiLoader() };
    }

    it('a swap right between the hash check and dlopen cannot get the new bytes loaded', async () => {
      const { dir, lock, evil, koffi } = await raceSetup();
      let swapped = 0;
      // Worst-case timing, made deterministic: the deployed file is replaced at the instant
      // the runtime asks the loader to load.
      const swappingLoader: NativeLoader = {
        load(path) {
          writeFileSync(join(dir, 'libgreet.so'), evil);
          swapped++;
          return koffi.load(path);
        },
      };
      const host = await PluginHost.open({ pluginDir: dir, loader: swappingLoader, sealer: await createSealer('memfd'), liveEnvironment: lock.host.fingerprint });
      expect(swapped).toBe(1);
      expect(host.plugins()[0]).toMatchObject({ name: 'greet', status: 'loaded', version: '1.0.0', sha256: lock.plugins.greet!.sha256 });
      expect(host.call('greet', 'Add', [1, 2])).toBe(3);
      await host.close();
    });

    it('under concurrent swapping, every load is either the verified bytes or a rejection', async () => {
      const { dir, lock, good, evil, koffi } = await raceSetup();
      let stop = false;
      const swapper = (async () => {
        for (let i = 0; !stop; i++) {
          const temp = join(dir, `.swap-${i}`);
          await writeFile(temp, i % 2 === 0 ? evil : good);
          await rename(temp, join(dir, 'libgreet.so'));
        }
      })();
      const outcomes = { loaded: 0, rejected: 0 };
      for (let round = 0; round < 40; round++) {
        const host = await PluginHost.open({ pluginDir: dir, loader: koffi, sealer: await createSealer(round % 2 === 0 ? 'memfd' : 'file'), liveEnvironment: lock.host.fingerprint });
        const status = host.plugins().find((p) => p.name === 'greet');
        if (status?.status === 'loaded') {
          outcomes.loaded++;
          expect(status.sha256).toBe(lock.plugins.greet!.sha256);
          expect(host.call('greet', 'Add', [1, 2])).toBe(3);
        } else {
          outcomes.rejected++;
          expect(['HASH_MISMATCH', 'SIZE_MISMATCH']).toContain(status?.code);
        }
        await host.close();
      }
      stop = true;
      await swapper;
      console.log(`[race] 40 opens under swapping: ${outcomes.loaded} loaded (verified bytes), ${outcomes.rejected} rejected`);
      expect(outcomes.loaded + outcomes.rejected).toBe(40);
    });
  });
});
