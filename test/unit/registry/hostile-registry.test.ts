import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type LockDocument, serializeLockfile } from '../../../src/lock/lockfile.js';
import { digestOf } from '../../../src/oci/descriptor.js';
import { OCI_MANIFEST, PLUGIN_MEDIA, PLUGIN_SET_ARTIFACT } from '../../../src/oci/media-types.js';
import { pluginSetArtifact } from '../../../src/oci/plugin-set.js';
import { parseReference } from '../../../src/oci/reference.js';
import { createRegistryClient, PluginStore, pullSet, type PullRequest } from '../../../src/registry/index.js';
import { generateSigningKeyPair, parseSigningKey, parseTrustedKey } from '../../../src/trust/keys.js';
import { signLockfile } from '../../../src/trust/lockfile-signature.js';
import { FakeRegistry } from '../../helpers/fake-registry.js';
import { lockFor, tempDir } from '../../helpers/fake-plugins.js';
import { sampleMultiLock } from '../../helpers/sample-locks.js';

const FILES = { 'libgreet.so': Buffer.from('greet bytes '.repeat(100)), 'libshout.so': Buffer.from('shout bytes '.repeat(300)) };
const pair = generateSigningKeyPair();
const signer = parseSigningKey(pair.privatePem, 'test.key');
const trusted = [parseTrustedKey(pair.publicPem, 'test.pub')];

/** A signed set of FILES, published into the fake registry; its digest. */
function publishInto(registry: FakeRegistry, document: LockDocument = lockFor(FILES), files: Record<string, Buffer> = FILES, signed = true): string {
  const text = serializeLockfile(document);
  const signature = signed ? Buffer.from(signLockfile(document, text, signer, '0.0.0-test')) : null;
  const artifact = pluginSetArtifact(Buffer.from(text), document, signature, {});
  for (const blob of artifact.blobs) {
    const bytes = blob.source.kind === 'lockfile' ? Buffer.from(text) : blob.source.kind === 'signature' ? signature! : blob.source.kind === 'empty' ? Buffer.from('{}') : files[blob.source.path.split('/').pop()!]!;
    registry.blobs.set(blob.descriptor.digest, bytes);
  }
  for (const m of artifact.manifests) registry.addDocument(m.bytes, m.mediaType);
  registry.addDocument(artifact.top.bytes, artifact.top.mediaType, 'v1');
  return artifact.top.digest;
}

let registry: FakeRegistry;
let storeDir: string;
let store: PluginStore;
const logs: string[] = [];

beforeEach(async () => {
  registry = await new FakeRegistry().start();
  storeDir = await tempDir('pb-store-');
  store = await PluginStore.open(storeDir, 1024 * 1024 * 1024);
  logs.length = 0;
});
afterEach(async () => {
  await store.close();
  await registry.stop();
  await rm(storeDir, { recursive: true, force: true });
});

function request(ref: string, extra: Partial<PullRequest> = {}): PullRequest {
  return { ref: parseReference(ref), platform: 'linux/amd64', trustedKeys: trusted, allowTag: false, log: (_l, m) => logs.push(m), signal: AbortSignal.timeout(10_000), ...extra };
}

const client = (ref: string, idleTimeoutMs = 5000) => createRegistryClient(parseReference(ref), { idleTimeoutMs, credentials: async () => null });

/** After a refused pull: no set laid out, no temp file left, no blob kept that failed its check. */
async function nothingKept(badDigest?: string): Promise<void> {
  expect(await readdir(join(storeDir, 'sets'))).toEqual([]);
  expect(await readdir(join(storeDir, 'tmp'))).toEqual([]);
  if (badDigest) expect(await readdir(join(storeDir, 'blobs', 'sha256'))).not.toContain(badDigest.slice(7));
}

describe('pulling a plugin set from a registry that misbehaves', () => {
  it('a well-behaved registry: the set is laid out, each blob fetched once; a second pull fetches nothing', async () => {
    const digest = publishInto(registry);
    const ref = `${registry.host}/team/set@${digest}`;
    const pulled = await pullSet(client(ref), store, request(ref));
    expect(pulled.signedBy).toEqual([trusted[0]!.keyId]);
    expect((await readdir(pulled.dir)).sort()).toEqual(['.set.json', 'builder.lock.json', 'builder.lock.json.sig', 'libgreet.so', 'libshout.so']);
    const again = await pullSet(client(ref), store, request(ref));
    expect(again.fetched).toBe(0);
    for (const d of registry.blobs.keys()) if (d !== digestOf(Buffer.from('{}'))) expect(registry.blobFetches(d)).toBe(1);
    // Offline: the store alone serves it.
    await registry.stop();
    const offline = await pullSet(null, store, request(ref));
    expect(offline.dir).toBe(pulled.dir);
  });

  it('a blob whose bytes are not its digest is refused, and nothing of it is kept', async () => {
    const digest = publishInto(registry);
    const shout = `sha256:${lockFor(FILES).plugins.shout!.sha256}`;
    registry.blobs.set(shout, Buffer.alloc(FILES['libshout.so'].length, 0x41));
    const ref = `${registry.host}/team/set@${digest}`;
    await expect(pullSet(client(ref), store, request(ref))).rejects.toMatchObject({ code: 'DIGEST_MISMATCH', message: expect.stringContaining('libshout.so') });
    await nothingKept(shout);
  });

  it('a manifest whose bytes are not its digest is refused before anything else is fetched', async () => {
    const digest = publishInto(registry);
    const doc = registry.documents.get(digest)!;
    registry.documents.set(digest, { ...doc, bytes: Buffer.from(doc.bytes.toString().replace('"schemaVersion":2', '"schemaVersion":2 ')) });
    const ref = `${registry.host}/team/set@${digest}`;
    await expect(pullSet(client(ref), store, request(ref))).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    expect(registry.requests.filter((r) => r.path.includes('/blobs/'))).toEqual([]);
    await nothingKept();
  });

  it('an endless blob is cut off at its declared size; memory stays bounded', async () => {
    const digest = publishInto(registry);
    const shout = `sha256:${lockFor(FILES).plugins.shout!.sha256}`;
    let sent = 0;
    registry.hooks.push((req, res, url) => {
      if (!url.pathname.endsWith(shout) || req.method !== 'GET') return false;
      res.writeHead(200);
      const chunk = Buffer.alloc(64 * 1024, 0x42);
      const pump = () => {
        while (!res.destroyed && res.write(chunk)) sent += chunk.length;
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
      return true;
    });
    const before = process.memoryUsage().rss;
    const ref = `${registry.host}/team/set@${digest}`;
    await expect(pullSet(client(ref), store, request(ref))).rejects.toMatchObject({ code: 'DIGEST_MISMATCH', message: expect.stringContaining('more than the 3600 bytes') });
    expect(process.memoryUsage().rss - before).toBeLessThan(64 * 1024 * 1024);
    expect(sent).toBeLessThan(16 * 1024 * 1024);
    await nothingKept(shout);
  });

  it('a layer declaring a size over the limit, and a manifest of 10^5 layers, are refused before any blob is fetched', async () => {
    const huge = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: PLUGIN_SET_ARTIFACT, config: {}, layers: [{ mediaType: PLUGIN_MEDIA, digest: `sha256:${'a'.repeat(64)}`, size: 2 ** 40, annotations: { 'org.opencontainers.image.title': 'libx.so' } }] }));
    const d1 = registry.addDocument(huge, OCI_MANIFEST);
    await expect(pullSet(client(`${registry.host}/r@${d1}`), store, request(`${registry.host}/r@${d1}`))).rejects.toMatchObject({ code: 'SET_INVALID', message: expect.stringContaining('more than the limit') });
    const layers = Array.from({ length: 100_000 }, (_, i) => ({ mediaType: PLUGIN_MEDIA, digest: `sha256:${i.toString(16).padStart(64, '0')}`, size: 1, annotations: { 'org.opencontainers.image.title': `lib${i}.so` } }));
    const many = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: PLUGIN_SET_ARTIFACT, layers }));
    const d2 = registry.addDocument(many, OCI_MANIFEST);
    await expect(pullSet(client(`${registry.host}/r@${d2}`), store, request(`${registry.host}/r@${d2}`))).rejects.toMatchObject({ code: 'SET_INVALID', message: expect.stringMatching(/more than 4194304|more than 1002/) });
    const compact = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: PLUGIN_SET_ARTIFACT, layers: layers.slice(0, 20_000).map((l) => ({ ...l, annotations: undefined })) }));
    const d3 = registry.addDocument(compact, OCI_MANIFEST);
    await expect(pullSet(client(`${registry.host}/r@${d3}`), store, request(`${registry.host}/r@${d3}`))).rejects.toMatchObject({ code: 'SET_INVALID', message: expect.stringContaining('more than 1002') });
    expect(registry.requests.filter((r) => r.path.includes('/blobs/'))).toEqual([]);
    await nothingKept();
  });

  it('a manifest body larger than the document bound is not read past it', async () => {
    registry.hooks.push((req, res, url) => {
      if (!url.pathname.includes('/manifests/')) return false;
      res.writeHead(200, { 'content-type': OCI_MANIFEST });
      const chunk = Buffer.alloc(1024 * 1024, 0x20);
      const pump = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
      return true;
    });
    const ref = `${registry.host}/r@sha256:${'1'.repeat(64)}`;
    await expect(pullSet(client(ref), store, request(ref))).rejects.toMatchObject({ code: 'SET_INVALID', message: expect.stringContaining('larger than 4194304') });
  });

  it('a redirect loop is cut after five hops', async () => {
    registry.hooks.push((_req, res, url) => {
      if (!url.pathname.includes('/manifests/')) return false;
      res.writeHead(302, { location: url.pathname + 'x' }).end();
      return true;
    });
    const ref = `${registry.host}/r@sha256:${'1'.repeat(64)}`;
    await expect(pullSet(client(ref), store, request(ref))).rejects.toMatchObject({ code: 'REGISTRY_INSECURE', message: expect.stringContaining('more than 5 times') });
    expect(registry.requests.length).toBe(6);
  });

  it('a redirect from https to plain http is refused, and credentials never follow a redirect to another origin', async () => {
    const seen: Array<{ url: string; authorization?: string }> = [];
    const transport = {
      async send(req: { url: URL; headers?: Record<string, string> }) {
        seen.push({ url: req.url.href, ...(req.headers?.authorization ? { authorization: req.headers.authorization } : {}) });
        const { Readable } = await import('node:stream');
        const body = Readable.from([]) as never;
        if (req.url.host === 'registry.example') return { status: 307, headers: { location: 'http://storage.example/blob' }, body, url: req.url };
        return { status: 200, headers: {}, body, url: req.url };
      },
    };
    const ref = parseReference(`registry.example/r@sha256:${'1'.repeat(64)}`);
    const c = createRegistryClient(ref, { transport, credentials: async () => ({ username: 'u', password: 'p' }) });
    await expect(c.openBlob(`sha256:${'1'.repeat(64)}`, AbortSignal.timeout(1000))).rejects.toMatchObject({ code: 'REGISTRY_INSECURE', message: expect.stringContaining('downgrade') });
    expect(seen.map((s) => s.url)).toEqual([`https://registry.example/v2/r/blobs/sha256:${'1'.repeat(64)}`]);
  });

  it('a tag is refused without --allow-tag; with it, it is resolved once and a manifest that changes between requests is caught', async () => {
    const digest = publishInto(registry);
    const tagged = `${registry.host}/team/set:v1`;
    await expect(pullSet(client(tagged), store, request(tagged))).rejects.toMatchObject({ code: 'TAG_REFUSED' });
    expect(registry.requests).toEqual([]);
    const pulled = await pullSet(client(tagged), store, request(tagged, { allowTag: true }));
    expect(pulled.digest).toBe(digest);
    expect(logs.some((l) => l.includes(`resolved to ${digest}`))).toBe(true);
    // A registry that serves other bytes on the second request for the same digest.
    const store2Dir = await tempDir('pb-store-');
    const store2 = await PluginStore.open(store2Dir, 1 << 30);
    let calls = 0;
    registry.hooks.push((_req, res, url) => {
      if (!url.pathname.endsWith(`/manifests/${digest}`) || calls++ === 0) return false;
      res.writeHead(200, { 'content-type': OCI_MANIFEST }).end('{"schemaVersion":2}');
      return true;
    });
    const ref = `${registry.host}/team/set@${digest}`;
    await expect(pullSet(client(ref), store2, request(ref))).resolves.toMatchObject({ digest });
    await store2.close();
    await rm(store2Dir, { recursive: true, force: true });
    const store3Dir = await tempDir('pb-store-');
    const store3 = await PluginStore.open(store3Dir, 1 << 30);
    await expect(pullSet(client(ref), store3, request(ref))).rejects.toMatchObject({ code: 'DIGEST_MISMATCH' });
    await store3.close();
    await rm(store3Dir, { recursive: true, force: true });
  });

  it('a slow drip is stopped by the pull deadline; a stall by the idle limit', async () => {
    const digest = publishInto(registry);
    const shout = `sha256:${lockFor(FILES).plugins.shout!.sha256}`;
    registry.hooks.push((req, res, url) => {
      if (!url.pathname.endsWith(shout) || req.method !== 'GET') return false;
      res.writeHead(200, { 'content-length': FILES['libshout.so'].length });
      let i = 0;
      const timer = setInterval(() => (res.destroyed ? clearInterval(timer) : res.write(FILES['libshout.so'].subarray(i, ++i))), 50);
      res.on('close', () => clearInterval(timer));
      return true;
    });
    const ref = `${registry.host}/team/set@${digest}`;
    const started = Date.now();
    await expect(pullSet(client(ref), store, request(ref, { signal: AbortSignal.timeout(1500) }))).rejects.toMatchObject({ code: 'REGISTRY_TIMEOUT', message: expect.stringContaining('time limit') });
    expect(Date.now() - started).toBeLessThan(5000);
    await nothingKept(shout);
    registry.hooks = [(req, res, url) => (url.pathname.endsWith(shout) && req.method === 'GET' ? (res.writeHead(200, { 'content-length': 3600 }), res.write('x'), true) : false)];
    await expect(pullSet(client(ref, 500), store, request(ref))).rejects.toMatchObject({ code: 'REGISTRY_TIMEOUT' });
    await nothingKept(shout);
  });

  it('an unsigned set, or one signed by an untrusted key, is refused before any plugin blob is fetched', async () => {
    const digest = publishInto(registry, lockFor(FILES), FILES, false);
    const ref = `${registry.host}/team/set@${digest}`;
    await expect(pullSet(client(ref), store, request(ref))).rejects.toMatchObject({ code: 'UNSIGNED_LOCKFILE' });
    const other = generateSigningKeyPair();
    const digest2 = publishInto(registry);
    const ref2 = `${registry.host}/team/set@${digest2}`;
    await expect(pullSet(client(ref2), store, request(ref2, { trustedKeys: [parseTrustedKey(other.publicPem, 'other.pub')] }))).rejects.toMatchObject({ code: 'BAD_SIGNATURE' });
    const pluginDigests = Object.values(lockFor(FILES).plugins).map((p) => `sha256:${p.sha256}`);
    for (const d of pluginDigests) expect(registry.blobFetches(d)).toBe(0);
    await nothingKept();
  });

  it('layers that differ from the signed lockfile are refused: a swapped plugin blob, an extra layer, a missing one', async () => {
    const document = lockFor(FILES);
    const text = serializeLockfile(document);
    const signature = Buffer.from(signLockfile(document, text, signer, '0.0.0-test'));
    const artifact = pluginSetArtifact(Buffer.from(text), document, signature, {});
    const manifest = JSON.parse(artifact.top.bytes.toString());
    registry.blobs.set(digestOf(Buffer.from(text)), Buffer.from(text));
    registry.blobs.set(digestOf(signature), signature);
    const evil = Buffer.from('evil');
    for (const layers of [
      manifest.layers.map((l: { annotations: Record<string, string> }) => (l.annotations['org.opencontainers.image.title'] === 'libshout.so' ? { ...l, digest: digestOf(evil), size: 4 } : l)),
      [...manifest.layers, { mediaType: PLUGIN_MEDIA, digest: digestOf(evil), size: 4, annotations: { 'org.opencontainers.image.title': 'libevil.so' } }],
      manifest.layers.slice(0, -1),
      manifest.layers.map((l: { annotations: Record<string, string> }) => (l.annotations['org.opencontainers.image.title'] === 'libshout.so' ? { ...l, annotations: { 'org.opencontainers.image.title': '../libshout.so' } } : l)),
    ]) {
      const d = registry.addDocument(Buffer.from(JSON.stringify({ ...manifest, layers })), OCI_MANIFEST);
      const ref = `${registry.host}/team/set@${d}`;
      await expect(pullSet(client(ref), store, request(ref))).rejects.toMatchObject({ code: 'SET_INVALID' });
    }
    expect(registry.blobFetches(digestOf(evil))).toBe(0);
    await nothingKept();
  });

  it('a multi-platform set: a host fetches only its own platform part', async () => {
    const multi = sampleMultiLock();
    const amd = Buffer.alloc(10, 1);
    const arm = Buffer.alloc(10, 2);
    multi.platforms['linux/amd64']!.plugins.greet = { ...multi.platforms['linux/amd64']!.plugins.greet!, sha256: digestOf(amd).slice(7), size: 10 };
    multi.platforms['linux/arm64']!.plugins.greet = { ...multi.platforms['linux/arm64']!.plugins.greet!, sha256: digestOf(arm).slice(7), size: 10 };
    const text = serializeLockfile(multi);
    const signature = Buffer.from(signLockfile(multi, text, signer, '0.0.0-test'));
    const artifact = pluginSetArtifact(Buffer.from(text), multi, signature, {});
    registry.blobs.set(digestOf(Buffer.from(text)), Buffer.from(text));
    registry.blobs.set(digestOf(signature), signature);
    registry.blobs.set(digestOf(amd), amd);
    registry.blobs.set(digestOf(arm), arm);
    for (const m of artifact.manifests) registry.addDocument(m.bytes, m.mediaType);
    const digest = registry.addDocument(artifact.top.bytes, artifact.top.mediaType);
    const ref = `${registry.host}/team/multi@${digest}`;
    const pulled = await pullSet(client(ref), store, request(ref, { platform: 'linux/arm64' }));
    expect(await readdir(join(pulled.dir, 'linux-arm64'))).toEqual(['libgreet.so']);
    expect(registry.blobFetches(digestOf(amd))).toBe(0);
    await expect(pullSet(client(ref), store, request(ref, { platform: 'linux/riscv64' }))).rejects.toMatchObject({ code: 'SET_INVALID', message: expect.stringContaining('linux/amd64, linux/arm64') });
    const all = await pullSet(client(ref), store, request(ref, { platform: null }));
    expect((await readdir(all.dir)).sort()).toEqual(['.set.json', 'builder.lock.json', 'builder.lock.json.sig', 'linux-amd64', 'linux-arm64']);
  });

  it('a file replaced in a laid-out set (the blob intact) is noticed: the set is laid out again from its blobs', async () => {
    const digest = publishInto(registry);
    const ref = `${registry.host}/team/set@${digest}`;
    const pulled = await pullSet(client(ref), store, request(ref));
    const { chmod, readFile, rm: remove, writeFile: write } = await import('node:fs/promises');
    await chmod(pulled.dir, 0o755);
    await remove(join(pulled.dir, 'libshout.so'));
    await write(join(pulled.dir, 'libshout.so'), Buffer.alloc(FILES['libshout.so'].length, 0x58));
    await registry.stop();
    const again = await pullSet(null, store, request(ref));
    expect(await readFile(join(again.dir, 'libshout.so'))).toEqual(FILES['libshout.so']);
  });

  it('a full disk under the store (a tmpfs the test mounts) is WRITE_FAILED naming the errno; nothing partial is kept and the store works after', async () => {
    const { execFileSync } = await import('node:child_process');
    const big = { 'libgreet.so': Buffer.alloc(600 * 1024, 1), 'libshout.so': Buffer.alloc(600 * 1024, 2) };
    const digest = publishInto(registry, lockFor(big), big);
    const mountPoint = await tempDir('pb-full-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mountPoint]);
    try {
      const small = await PluginStore.open(mountPoint, 1 << 30);
      const ref = `${registry.host}/team/set@${digest}`;
      await expect(pullSet(client(ref), small, request(ref))).rejects.toMatchObject({ code: 'WRITE_FAILED', message: expect.stringContaining('ENOSPC') });
      expect(await readdir(join(mountPoint, 'sets'))).toEqual([]);
      expect(await readdir(join(mountPoint, 'tmp'))).toEqual([]);
      // The same store takes a set that fits.
      const fits = publishInto(registry);
      const ok = `${registry.host}/team/set@${fits}`;
      await expect(pullSet(client(ok), small, request(ok))).resolves.toMatchObject({ digest: fits });
      await small.close();
    } finally {
      execFileSync('umount', [mountPoint]);
      await rm(mountPoint, { recursive: true, force: true });
    }
  });

  it('a `builder pull` killed (SIGKILL) mid-transfer leaves no set and no lock in force: the next pull clears its leftovers and succeeds', async () => {
    const { spawn } = await import('node:child_process');
    const digest = publishInto(registry);
    const shout = `sha256:${lockFor(FILES).plugins.shout!.sha256}`;
    let started!: () => void;
    const transferring = new Promise<void>((resolve) => (started = resolve));
    registry.hooks.push((req, res, url) => {
      if (!url.pathname.endsWith(shout) || req.method !== 'GET') return false;
      res.writeHead(200, { 'content-length': FILES['libshout.so'].length });
      res.write(FILES['libshout.so'].subarray(0, 100));
      started();
      return true; // never finishes
    });
    const killedStore = await tempDir('pb-store-');
    const ref = `${registry.host}/team/set@${digest}`;
    const main = join(import.meta.dirname, '../../../src/cli/main.ts');
    const child = spawn(process.execPath, ['--import', 'tsx', main, 'pull', ref, '--store', killedStore], { stdio: 'ignore' });
    await transferring;
    await new Promise((r) => setTimeout(r, 200));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(await readdir(join(killedStore, 'tmp'))).not.toEqual([]);
    expect(await readdir(killedStore)).toContain('lock');
    registry.hooks = [];
    const after = await PluginStore.open(killedStore, 1 << 30);
    expect(await readdir(join(killedStore, 'tmp'))).toEqual([]);
    await expect(pullSet(client(ref), after, request(ref))).resolves.toMatchObject({ digest });
    await after.close();
    await rm(killedStore, { recursive: true, force: true });
  }, 30_000);
});
