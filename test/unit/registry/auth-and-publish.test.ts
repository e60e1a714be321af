import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { serializeLockfile } from '../../../src/lock/lockfile.js';
import { parseReference } from '../../../src/oci/reference.js';
import { type CredentialSource, createRegistryClient, dockerConfigCredentials, PluginStore, publishSet, pullSet } from '../../../src/registry/index.js';
import { FakeRegistry } from '../../helpers/fake-registry.js';
import { lockFor, tempDir } from '../../helpers/fake-plugins.js';

const FILES = { 'libgreet.so': 'greet', 'libshout.so': 'shout' };
let registry: FakeRegistry;
let dir: string;

beforeEach(async () => {
  registry = await new FakeRegistry().start();
  dir = await tempDir('pb-pub-');
  for (const [f, c] of Object.entries(FILES)) await writeFile(join(dir, f), c);
  await writeFile(join(dir, 'builder.lock.json'), serializeLockfile(lockFor(FILES)));
});
afterEach(async () => {
  await registry.stop();
  await rm(dir, { recursive: true, force: true });
});

const publish = (ref: string, credentials: CredentialSource = async () => null) =>
  publishSet(createRegistryClient(parseReference(ref), { credentials }), {
    ref: parseReference(ref),
    pluginDir: dir,
    lockPath: join(dir, 'builder.lock.json'),
    signaturePath: join(dir, 'builder.lock.json.sig'),
    annotations: { created: '2025-01-01T00:00:00Z' },
    log: () => {},
    signal: AbortSignal.timeout(10_000),
  });

/** Require a bearer token from the registry's own /token, given for basic u:p. */
function requireBearer(r: FakeRegistry): void {
  r.hooks.push((req, res, url) => {
    if (url.pathname === '/token') {
      const ok = req.headers.authorization === `Basic ${Buffer.from('u:p').toString('base64')}`;
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' }).end(ok ? JSON.stringify({ token: `tok-${url.searchParams.get('scope')?.endsWith('push') ? 'push' : 'pull'}` }) : '{}');
      return true;
    }
    if (req.headers.authorization?.startsWith('Bearer tok-')) return false;
    res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${r.host}/token",service="fake"` }).end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
    return true;
  });
}

describe('publishing and authenticating', () => {
  it('publishing the same set twice uploads nothing the second time and gives the same digest', async () => {
    const first = await publish(`${registry.host}/team/set:v1`);
    expect(first.uploaded).toBe(5);
    const uploads = registry.requests.filter((r) => r.method === 'PUT').length;
    const second = await publish(`${registry.host}/team/set:v1`);
    expect(second).toMatchObject({ digest: first.digest, uploaded: 0, present: 5, signed: false });
    expect(registry.requests.filter((r) => r.method === 'PUT').length).toBe(uploads);
  });

  it('a plugin file that differs from its lockfile entry stops the publish before anything is pushed', async () => {
    await writeFile(join(dir, 'libshout.so'), 'SHOUT');
    await expect(publish(`${registry.host}/team/set:v1`)).rejects.toMatchObject({ code: 'HASH_MISMATCH' });
    expect(registry.requests).toEqual([]);
    await rm(join(dir, 'libshout.so'));
    await (await import('node:fs/promises')).symlink('/etc/passwd', join(dir, 'libshout.so'));
    await expect(publish(`${registry.host}/team/set:v1`)).rejects.toMatchObject({ code: 'NOT_A_REGULAR_FILE' });
  });

  it('bearer tokens from the realm, with credentials from the docker config; pull and push scopes apart', async () => {
    requireBearer(registry);
    await expect(publish(`${registry.host}/team/set:v1`)).rejects.toMatchObject({ code: 'REGISTRY_AUTH_FAILED' });
    const config = await tempDir('pb-docker-');
    await writeFile(join(config, 'config.json'), JSON.stringify({ auths: { [registry.host]: { auth: Buffer.from('u:p').toString('base64') } } }));
    const result = await publish(`${registry.host}/team/set:v1`, dockerConfigCredentials({ DOCKER_CONFIG: config }));
    expect(result.uploaded).toBe(5);
    expect(registry.requests.some((r) => r.method === 'PUT' && r.authorization === 'Bearer tok-push')).toBe(true);
    const store = await PluginStore.open(join(config, 'store'), 1 << 30);
    const ref = parseReference(`${registry.host}/team/set@${result.digest}`);
    await pullSet(createRegistryClient(ref, { credentials: dockerConfigCredentials({ DOCKER_CONFIG: config }) }), store, { ref, platform: 'linux/amd64', trustedKeys: [], allowTag: false, log: () => {}, signal: AbortSignal.timeout(5000) });
    expect(registry.requests.filter((r) => r.method === 'GET' && r.path.includes('/blobs/')).every((r) => r.authorization === 'Bearer tok-pull')).toBe(true);
    await store.close();
    await rm(config, { recursive: true, force: true });
  });

  it('a credential helper named in credHelpers is asked, with the registry on stdin', async () => {
    const config = await tempDir('pb-docker-');
    const bin = join(config, 'bin');
    await mkdir(bin);
    await writeFile(join(bin, 'docker-credential-fake'), `#!/bin/sh\nread server\n[ "$server" = "${registry.host}" ] && echo '{"Username":"u","Secret":"p"}' || { echo "credentials not found in native keychain"; exit 1; }\n`);
    await chmod(join(bin, 'docker-credential-fake'), 0o755);
    await writeFile(join(config, 'config.json'), JSON.stringify({ credHelpers: { [registry.host]: 'fake' } }));
    const env = { DOCKER_CONFIG: config, PATH: `${bin}:${process.env.PATH}` };
    expect(await dockerConfigCredentials(env)(registry.host)).toEqual({ username: 'u', password: 'p' });
    expect(await dockerConfigCredentials(env)('other.example')).toBeNull();
    await writeFile(join(config, 'config.json'), JSON.stringify({ credsStore: '../../bin/sh' }));
    await expect(dockerConfigCredentials(env)(registry.host)).rejects.toMatchObject({ code: 'REGISTRY_AUTH_FAILED', message: expect.stringContaining('not a plain name') });
    await rm(config, { recursive: true, force: true });
  });

  it('a token realm over plain http to a host that is not loopback is refused, credentials unsent', async () => {
    const sent: string[] = [];
    const { Readable } = await import('node:stream');
    const transport = {
      async send(req: { url: URL; headers?: Record<string, string> }) {
        sent.push(`${req.url.href} ${req.headers?.authorization ?? ''}`);
        return { status: 401, headers: { 'www-authenticate': 'Bearer realm="http://auth.example/token"' }, body: Readable.from([]) as never, url: req.url };
      },
    };
    const ref = parseReference(`registry.example/r@sha256:${'1'.repeat(64)}`);
    const c = createRegistryClient(ref, { transport, credentials: async () => ({ username: 'u', password: 'p' }) });
    await expect(c.getDocument(ref.digest!, AbortSignal.timeout(1000))).rejects.toMatchObject({ code: 'REGISTRY_INSECURE' });
    expect(sent).toEqual([`https://registry.example/v2/r/manifests/${ref.digest} `]);
  });

  it('a 401 from where the registry redirected (blob storage) gets no credentials: not the basic ones, not a token from its realm', async () => {
    const storage = await new FakeRegistry().start();
    const tokenRequests: string[] = [];
    storage.hooks.push((req, res, url) => {
      if (url.pathname === '/token') tokenRequests.push(req.headers.authorization ?? '');
      res.writeHead(401, { 'www-authenticate': `Bearer realm="http://${storage.host}/token"` }).end();
      return true;
    });
    registry.hooks.push((req, res, url) => {
      if (!url.pathname.includes('/blobs/')) return false;
      res.writeHead(307, { location: `http://${storage.host}/bucket/blob` }).end();
      return true;
    });
    const ref = parseReference(`${registry.host}/team/set@sha256:${'1'.repeat(64)}`);
    const c = createRegistryClient(ref, { credentials: async () => ({ username: 'alice', password: 's3cret' }) });
    await expect(c.openBlob(ref.digest!, AbortSignal.timeout(5000))).rejects.toMatchObject({ code: 'REGISTRY_AUTH_FAILED', message: expect.stringContaining('not sent elsewhere') });
    expect(tokenRequests).toEqual([]);
    expect(storage.requests.every((r) => r.authorization === undefined)).toBe(true);
    await storage.stop();
  });
});
