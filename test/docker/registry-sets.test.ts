import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOST_BOOKWORM, requireDocker, skipDocker } from '../helpers/docker.js';
import { type HostContainer, startHostContainer } from '../helpers/host-container.js';
import { cli, copyProject } from '../helpers/project.js';
import { REGISTRY, requireRegistry, skipRegistry } from '../helpers/registry.js';

const run = promisify(execFile);

/** The example, built and signed; greet's greeting is changed for v2. */
let project: string;
let pub: string;
const refs: Record<string, string> = {};
const repo = `${REGISTRY}/pb-test/sets-${process.pid}`;

async function buildSignPublish(tag: string, env: Record<string, string> = {}): Promise<string> {
  const build = await cli(project, ['build']);
  expect(build.code, build.stderr).toBe(0);
  const sign = await cli(project, ['sign', '--key', 'keys/builder-signing.key']);
  expect(sign.code, sign.stderr).toBe(0);
  const published = await cli(project, ['publish', `${repo}:${tag}`, '--json', '--source', 'https://example.com/plugins', '--revision', tag], { ...process.env, SOURCE_DATE_EPOCH: '1764892800', ...env });
  expect(published.code, published.stderr).toBe(0);
  return (JSON.parse(published.stdout) as { pinned: string }).pinned;
}

const hostCommand = (ref: string, extra: string[] = []) => (port: number) => ['node', '/app/dist/builder.js', 'host', '--from', ref, '--store', '/tmp/store', '--trust-dir', '/app/trust', '--listen', '127.0.0.1', '--port', String(port), ...extra];

describe.skipIf(skipDocker || skipRegistry)('plugin sets through the real registry: publish, skopeo, pull, host --from, reload by reference', () => {
  beforeAll(async () => {
    await requireDocker();
    requireRegistry();
    project = await copyProject('examples/hello');
    expect((await cli(project, ['keygen', '--out-dir', 'keys'])).code).toBe(0);
    pub = await readFile(join(project, 'keys', 'builder-signing.pub'), 'utf8');
    refs.v1 = await buildSignPublish('v1');
    const greet = join(project, 'plugins', 'greet', 'greet.c');
    await writeFile(greet, (await readFile(greet, 'utf8')).replace('Hello, %s!', 'Hello again, %s!').replace('1.0.0', '2.0.0'));
    refs.v2 = await buildSignPublish('v2');
  }, 300_000);
  afterAll(async () => {
    await rm(project, { recursive: true, force: true });
  });

  it('publishing the same set again uploads nothing and gives the same digest; the annotations are there', async () => {
    const again = await cli(project, ['publish', `${repo}:v2`, '--json', '--source', 'https://example.com/plugins', '--revision', 'v2'], { ...process.env, SOURCE_DATE_EPOCH: '1764892800' });
    expect(JSON.parse(again.stdout)).toMatchObject({ pinned: refs.v2, uploaded: 0, signed: true });
    const raw = JSON.parse((await run('skopeo', ['inspect', '--tls-verify=false', '--raw', `docker://${refs.v2}`])).stdout);
    expect(raw).toMatchObject({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/vnd.plugin-builder.plugin-set.v1',
      annotations: { 'org.opencontainers.image.created': '2025-12-05T00:00:00Z', 'org.opencontainers.image.source': 'https://example.com/plugins', 'org.opencontainers.image.revision': 'v2' },
    });
    expect(raw.layers.map((l: { annotations: Record<string, string> }) => l.annotations['org.opencontainers.image.title'])).toEqual(['builder.lock.json', 'builder.lock.json.sig', 'libgreet.so', 'libshout.so']);
  });

  it('skopeo copies the artifact to another repository digest for digest, and builder pulls the copy: the same files, signature checked', async () => {
    const copy = `${REGISTRY}/pb-test/sets-copy-${process.pid}`;
    await run('skopeo', ['copy', '--src-tls-verify=false', '--dest-tls-verify=false', '--preserve-digests', `docker://${refs.v1}`, `docker://${copy}:v1`]);
    const digest = refs.v1!.split('@')[1]!;
    const out = await mkdtemp(join(tmpdir(), 'pb-pull-'));
    const pulled = await cli(project, ['pull', `${copy}@${digest}`, '--dir', join(out, 'set'), '--store', join(out, 'store'), '--trust-key', 'keys/builder-signing.pub', '--json']);
    expect(pulled.code, pulled.stdout + pulled.stderr).toBe(0);
    expect(JSON.parse(pulled.stdout)).toMatchObject({ ref: `${copy}@${digest}`, signedBy: [expect.stringMatching(/^[0-9a-f]{64}$/)], fetched: 5 });
    expect((await readdir(join(out, 'set'))).sort()).toEqual(['builder.lock.json', 'builder.lock.json.sig', 'libgreet.so', 'libshout.so']);
    const tagged = await cli(project, ['pull', `${copy}:v1`, '--store', join(out, 'store')]);
    expect(tagged.code).toBe(2);
    expect(tagged.stderr).toContain('names a tag');
    await rm(out, { recursive: true, force: true });
  });

  it('a Node host starts from the registry, reloads by reference to v2, refuses an unsigned set and a tag, and keeps serving v2', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'pb-empty-'));
    let host: HostContainer | undefined;
    try {
      host = await startHostContainer(HOST_BOOKWORM, empty, { command: hostCommand(refs.v1!), trust: { 'release.pub': pub } });
      const first = await host.get('/plugins');
      expect(first.body.lockfile).toMatchObject({ status: 'accepted', ref: refs.v1 });
      expect((await host.post('/plugins/greet/call/Greet', { args: ['fleet'] })).body.result).toBe('Hello, fleet!');
      const reload = await host.put('/plugins/reload', { ref: refs.v2 });
      expect(reload.status, JSON.stringify(reload.body)).toBe(200);
      expect(reload.body.lockfile).toMatchObject({ status: 'accepted', ref: refs.v2 });
      expect((await host.post('/plugins/greet/call/Greet', { args: ['fleet'] })).body.result).toBe('Hello again, fleet!');
      // An unsigned set of the same plugins: refused, v2 keeps serving.
      await rm(join(project, 'dist', 'plugins', 'builder.lock.json.sig'));
      const unsigned = await cli(project, ['publish', `${repo}:unsigned`, '--json']);
      const unsignedRef = (JSON.parse(unsigned.stdout) as { pinned: string }).pinned;
      const refused = await host.put('/plugins/reload', { ref: unsignedRef });
      expect(refused.status).toBe(409);
      expect(refused.body.code).toBe('UNSIGNED_LOCKFILE');
      const tag = await host.put('/plugins/reload', { ref: `${repo}:v2` });
      expect([tag.status, tag.body.code]).toEqual([409, 'TAG_REFUSED']);
      const rollback = await host.put('/plugins/reload', { ref: refs.v1 });
      expect([rollback.status, rollback.body.code]).toEqual([409, 'ROLLBACK_REFUSED']);
      const elsewhere = await host.put('/plugins/reload', { ref: `${REGISTRY}/pb-test/other@${refs.v2!.split('@')[1]}` });
      expect([elsewhere.status, elsewhere.body.code]).toEqual([409, 'REF_NOT_ALLOWED']);
      const bad = await host.put('/plugins/reload', { ref: 42 });
      expect(bad.status).toBe(400);
      const after = await host.get('/plugins');
      expect(after.body.lockfile).toMatchObject({ ref: refs.v2 });
      expect((await host.post('/plugins/greet/call/Greet', { args: ['fleet'] })).body.result).toBe('Hello again, fleet!');
      // A restart (same --from v1) resumes v2, the set it was reloaded to, from its store.
      await host.container.restart({ t: 5 });
      for (let i = 0; i < 100 && !(await fetch(`${host.url}/healthz`).then((r) => r.ok, () => false)); i++) await new Promise((r) => setTimeout(r, 200));
      expect((await host.get('/plugins')).body.lockfile).toMatchObject({ status: 'accepted', ref: refs.v2 });
      expect(await host.logs()).toMatch(/resuming .*reloaded by reference/);
    } finally {
      await host?.stop();
      await rm(empty, { recursive: true, force: true });
    }
  }, 300_000);
});
