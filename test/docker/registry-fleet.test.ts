import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOST_BOOKWORM, requireDocker, skipDocker } from '../helpers/docker.js';
import { type HostContainer, startHostContainer } from '../helpers/host-container.js';
import { PrivateRegistry } from '../helpers/private-registry.js';
import { cli, copyProject } from '../helpers/project.js';

let registry: PrivateRegistry;
let project: string;
let pub: string;
let empty: string;
const refs: Record<string, string> = {};
const hosts: HostContainer[] = [];

async function buildSignPublish(tag: string): Promise<string> {
  expect((await cli(project, ['build'])).code).toBe(0);
  expect((await cli(project, ['sign', '--key', 'keys/builder-signing.key'])).code).toBe(0);
  const published = await cli(project, ['publish', `${registry.host}/fleet/plugins:${tag}`, '--json']);
  expect(published.code, published.stderr).toBe(0);
  return (JSON.parse(published.stdout) as { pinned: string }).pinned;
}

const hostCommand = (ref: string, extra: string[] = []) => (port: number) => ['node', '/app/dist/builder.js', 'host', '--from', ref, '--store', '/tmp/store', '--trust-dir', '/app/trust', '--listen', '127.0.0.1', '--port', String(port), ...extra];
const greet = async (h: HostContainer) => (await h.post('/plugins/greet/call/Greet', { args: ['fleet'] })).body.result;
/** Digests of the blobs a host fetched from the registry, in order, from its log. */
const fetched = async (h: HostContainer) => [...(await h.logs()).matchAll(/^fetched .* \(\d+ bytes, (sha256:[0-9a-f]{12})…\)$/gm)].map((m) => m[1]!);

async function waitHealthy(h: HostContainer): Promise<void> {
  for (let i = 0; i < 150; i++) {
    if (await fetch(`${h.url}/healthz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`host did not come back:\n${await h.logs()}`);
}

describe.skipIf(skipDocker)('a fleet of three Node hosts on one registry (a registry of the test\'s own, stopped for real)', () => {
  beforeAll(async () => {
    await requireDocker();
    registry = await PrivateRegistry.create();
    await registry.start();
    project = await copyProject('examples/hello');
    empty = await mkdtemp(join(tmpdir(), 'pb-empty-'));
    expect((await cli(project, ['keygen', '--out-dir', 'keys'])).code).toBe(0);
    pub = await readFile(join(project, 'keys', 'builder-signing.pub'), 'utf8');
    refs.v1 = await buildSignPublish('v1');
    const source = join(project, 'plugins', 'greet', 'greet.c');
    await writeFile(source, (await readFile(source, 'utf8')).replace('Hello, %s!', 'Hello v2, %s!').replace('1.0.0', '2.0.0'));
    refs.v2 = await buildSignPublish('v2');
  }, 300_000);
  afterAll(async () => {
    for (const h of hosts) await h.stop();
    await registry?.remove();
    await rm(project, { recursive: true, force: true });
    await rm(empty, { recursive: true, force: true });
  });

  it('v1 to all; reload each to v2 by digest, each blob fetched once per host; registry stopped, restarted hosts serve v2 from their stores', async () => {
    for (let i = 0; i < 3; i++) hosts.push(await startHostContainer(HOST_BOOKWORM, empty, { command: hostCommand(refs.v1!), trust: { 'release.pub': pub } }));
    expect(await Promise.all(hosts.map(greet))).toEqual(['Hello, fleet!', 'Hello, fleet!', 'Hello, fleet!']);
    for (const h of hosts) {
      const reload = await h.put('/plugins/reload', { ref: refs.v2 });
      expect(reload.status, JSON.stringify(reload.body)).toBe(200);
    }
    expect(await Promise.all(hosts.map(greet))).toEqual(['Hello v2, fleet!', 'Hello v2, fleet!', 'Hello v2, fleet!']);
    for (const h of hosts) {
      const blobs = await fetched(h);
      // v1: lockfile, signature, greet, shout; v2: its lockfile, signature and greet. shout is shared.
      expect(blobs.length).toBe(7);
      expect(new Set(blobs).size).toBe(blobs.length);
    }
    await registry.stop();
    expect(await fetch(`http://${registry.host}/v2/`).then(() => 'up', () => 'down')).toBe('down');
    for (const h of hosts) await h.container.restart({ t: 5 });
    for (const h of hosts) await waitHealthy(h);
    expect(await Promise.all(hosts.map(greet))).toEqual(['Hello v2, fleet!', 'Hello v2, fleet!', 'Hello v2, fleet!']);
    for (const h of hosts) {
      expect((await h.get('/plugins')).body.lockfile).toMatchObject({ status: 'accepted', ref: refs.v2, signedBy: [expect.any(String)] });
      expect(await h.logs()).toMatch(/resuming .* from the store; the registry was not asked/);
    }
  }, 300_000);

  it('registry down with a cold store: a clear error, retries with backoff, and the host comes up when the registry does; with a short deadline it exits 2', async () => {
    await registry.stop();
    const late = await startHostContainer(HOST_BOOKWORM, empty, { command: hostCommand(refs.v2!, ['--pull-timeout', '120']), trust: { 'release.pub': pub }, waitHealthy: false });
    hosts.push(late);
    for (let i = 0; i < 100 && !/retrying in 2 s/.test(await late.logs()); i++) await new Promise((r) => setTimeout(r, 200));
    const log = await late.logs();
    expect(log).toMatch(/pull 1 of .* failed \(REGISTRY_UNREACHABLE\): .*cannot be reached: ECONNREFUSED; the store has no copy; retrying in 1 s/);
    expect(log).toMatch(/pull 2 of .* retrying in 2 s/);
    await registry.start();
    await waitHealthy(late);
    expect(await greet(late)).toBe('Hello v2, fleet!');

    await registry.stop();
    const doomed = await startHostContainer(HOST_BOOKWORM, empty, { command: hostCommand(refs.v1!, ['--pull-timeout', '4']), trust: { 'release.pub': pub }, waitHealthy: false });
    hosts.push(doomed);
    const exit = (await doomed.container.wait()) as { StatusCode: number };
    expect(exit.StatusCode).toBe(2);
    expect(await doomed.logs()).toMatch(/error: .* could not be pulled within 4 s \(\d attempts; last: .*ECONNREFUSED\), and the store \/tmp\/store has no copy\.\nfix: Start the registry/);
  }, 300_000);
});
