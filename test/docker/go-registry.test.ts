import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GO_HOST_BOOKWORM, requireDocker, skipDocker } from '../helpers/docker.js';
import { startHostContainer } from '../helpers/host-container.js';
import { cli, copyProject, editJson } from '../helpers/project.js';
import { REGISTRY, requireRegistry, skipRegistry } from '../helpers/registry.js';

/**
 * The example Go host (go/pluginhost with Options.Registry) against the real registry: the
 * metrics demo's cpu plugin published as v1 and v2, pulled by digest, reloaded by reference,
 * restarted from its store.
 */
describe.skipIf(skipDocker || skipRegistry)('the Go host from a registry (real engine, real registry, real plugin.Open)', () => {
  let project: string;
  let keyDir: string;
  let key: string;
  let pub: string;
  let empty: string;
  const refs: Record<string, string> = {};
  const repo = `${REGISTRY}/pb-test/go-sets-${process.pid}`;

  async function buildPublish(tag: string): Promise<string> {
    const build = await cli(project, ['build', '-c', 'metrics.config.json', '--sign-key', key]);
    expect(build.code, build.stderr).toBe(0);
    const published = await cli(project, ['publish', `${repo}:${tag}`, '-c', 'metrics.config.json', '--json']);
    expect(published.code, published.stderr).toBe(0);
    return (JSON.parse(published.stdout) as { pinned: string }).pinned;
  }

  beforeAll(async () => {
    await requireDocker();
    requireRegistry();
    project = await copyProject('examples/go-host');
    keyDir = await mkdtemp(join(tmpdir(), 'pb-go-keys-'));
    empty = await mkdtemp(join(tmpdir(), 'pb-go-empty-'));
    const keys = await cli(keyDir, ['keygen', '--out-dir', keyDir, '--name', 'ci', '--json']);
    ({ privateKey: key, publicKey: pub } = JSON.parse(keys.stdout) as { privateKey: string; publicKey: string });
    await editJson(join(project, 'metrics.config.json'), (c) => {
      c.plugins = (c.plugins as Array<{ name: string }>).filter((p) => p.name === 'cpu');
    });
    refs.v1 = await buildPublish('v1');
    const source = join(project, 'plugins/cpu/main.go');
    await writeFile(source, (await readFile(source, 'utf8')).replace('"1.0.0"', '"2.0.0"').replace('"load "', '"v2 load "'));
    refs.v2 = await buildPublish('v2');
  }, 600_000);

  afterAll(async () => {
    for (const dir of [project, keyDir, empty]) if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('pulls v1 by digest, reloads to v2 by reference, refuses another repository and a rollback, and resumes v2 from its store after a restart', async () => {
    const host = await startHostContainer(GO_HOST_BOOKWORM, empty, {
      command: (port) => ['-listen', `127.0.0.1:${port}`, '-trust-dir', '/app/trust', '-from', refs.v1!, '-store', '/tmp/store'],
      trust: { 'ci.pub': await readFile(pub, 'utf8') },
    });
    const metrics = async () => (await (await fetch(`${host.url}/metrics`, { signal: AbortSignal.timeout(10_000) })).json()) as Record<string, string>;
    try {
      expect((await host.get('/plugins')).body.lockfile).toMatchObject({ status: 'accepted', ref: refs.v1 });
      expect((await metrics()).cpu).toMatch(/^load /);
      const reload = await host.put('/plugins/reload', { ref: refs.v2 });
      expect(reload.status, JSON.stringify(reload.body)).toBe(200);
      expect(reload.body.lockfile).toMatchObject({ status: 'accepted', ref: refs.v2 });
      expect((await metrics()).cpu).toMatch(/^v2 load /);
      const rollback = await host.put('/plugins/reload', { ref: refs.v1 });
      expect([rollback.status, rollback.body.code]).toEqual([409, 'ROLLBACK_REFUSED']);
      const elsewhere = await host.put('/plugins/reload', { ref: `${REGISTRY}/pb-test/elsewhere@${refs.v2!.split('@')[1]}` });
      expect([elsewhere.status, elsewhere.body.code]).toEqual([409, 'REF_NOT_ALLOWED']);
      const tag = await host.put('/plugins/reload', { ref: `${repo}:v2` });
      expect([tag.status, tag.body.code]).toEqual([409, 'TAG_REFUSED']);
      expect((await host.get('/plugins')).body.lockfile).toMatchObject({ status: 'accepted', ref: refs.v2 });
      await host.container.restart({ t: 5 });
      for (let i = 0; i < 150 && !(await fetch(`${host.url}/healthz`).then((r) => r.ok, () => false)); i++) await new Promise((r) => setTimeout(r, 200));
      expect((await host.get('/plugins')).body.lockfile).toMatchObject({ status: 'accepted', ref: refs.v2 });
      expect((await metrics()).cpu).toMatch(/^v2 load /);
      expect(await host.logs()).toMatch(/resuming .*reloaded by reference/);
    } finally {
      await host.stop();
    }
  }, 300_000);
});
