import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RegistrySource } from '../../../src/runtime/registry-source.js';
import { generateSigningKeyPair, parseTrustedKey } from '../../../src/trust/keys.js';
import { freePort } from '../../helpers/host-container.js';
import { tempDir } from '../../helpers/fake-plugins.js';

const D = `sha256:${'1'.repeat(64)}`;
const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function source(keys = true) {
  const dir = await tempDir('pb-store-');
  dirs.push(dir);
  const logs: string[] = [];
  const trustedKeys = keys ? [parseTrustedKey(generateSigningKeyPair().publicPem, 'k.pub')] : [];
  const s = await RegistrySource.open({ storeDir: dir, storeMaxBytes: 1 << 20, platform: 'linux/amd64', trustedKeys, allowTag: false, allowRepositories: ['127.0.0.1:1/also/allowed'], log: (_l, m) => logs.push(m) });
  return { s, logs };
}

describe("a host's registry source", () => {
  it('registry down and nothing stored: retried with backoff, then a clear REGISTRY_UNREACHABLE', async () => {
    const { s, logs } = await source();
    const port = await freePort();
    const started = Date.now();
    await expect(s.initial(`127.0.0.1:${port}/team/set@${D}`, 3500)).rejects.toMatchObject({ code: 'REGISTRY_UNREACHABLE', message: expect.stringMatching(/could not be pulled within 3.5 s \(\d attempts; .*ECONNREFUSED.*has no copy/) });
    expect(Date.now() - started).toBeGreaterThanOrEqual(3000);
    expect(logs.filter((l) => /retrying in/.test(l)).map((l) => /retrying in (\d+) s/.exec(l)![1])).toEqual(['1', '2', '4']);
    await s.close();
  }, 15_000);

  it('a reload by reference needs trusted keys, and a repository the host pulls from', async () => {
    const unsigned = await source(false);
    await unsigned.s.initial(`127.0.0.1:1/team/set@${D}`, 10).catch(() => {});
    await expect(unsigned.s.pullForReload(`127.0.0.1:1/team/set@${D}`, AbortSignal.timeout(1000))).rejects.toMatchObject({ code: 'REF_NOT_ALLOWED', message: expect.stringContaining('trusts no signing key') });
    await unsigned.s.close();
    const signed = await source();
    await signed.s.initial(`127.0.0.1:1/team/set@${D}`, 10).catch(() => {});
    await expect(signed.s.pullForReload(`evil.example/team/set@${D}`, AbortSignal.timeout(1000))).rejects.toMatchObject({ code: 'REF_NOT_ALLOWED', message: expect.stringContaining('127.0.0.1:1/team/set, 127.0.0.1:1/also/allowed') });
    await expect(signed.s.pullForReload(`127.0.0.1:1/also/allowed@${D}`, AbortSignal.timeout(1000))).rejects.toMatchObject({ code: 'REGISTRY_UNREACHABLE' });
    await expect(signed.s.pullForReload('127.0.0.1:1/team/set:latest', AbortSignal.timeout(1000))).rejects.toMatchObject({ code: 'TAG_REFUSED' });
    await signed.s.close();
  });

  it('a serving record pointing elsewhere (a tampered store) is not resumed: --from is', async () => {
    const dir = await tempDir('pb-store-');
    dirs.push(dir);
    const from = `127.0.0.1:1/team/set@${D}`;
    await (await import('node:fs/promises')).writeFile(join(dir, 'serving.json'), JSON.stringify({ from, serving: `evil.example/x@sha256:${'2'.repeat(64)}` }));
    const logs: string[] = [];
    const s = await RegistrySource.open({ storeDir: dir, storeMaxBytes: 1 << 20, platform: 'linux/amd64', trustedKeys: [parseTrustedKey(generateSigningKeyPair().publicPem, 'k.pub')], allowTag: false, log: (_l, m) => logs.push(m) });
    await expect(s.initial(from, 300)).rejects.toMatchObject({ code: expect.stringMatching(/REGISTRY_UNREACHABLE|REGISTRY_TIMEOUT/) });
    expect(logs[0]).toMatch(/cannot resume evil\.example\/x@.*REF_NOT_ALLOWED|is not a repository this host pulls from/);
    await s.close();
  });

  it('a pulled set is pinned until released: another pull over a tiny budget does not collect it', async () => {
    const { FakeRegistry } = await import('../../helpers/fake-registry.js');
    const { pluginSetArtifact } = await import('../../../src/oci/plugin-set.js');
    const { serializeLockfile } = await import('../../../src/lock/lockfile.js');
    const { lockFor } = await import('../../helpers/fake-plugins.js');
    const { signLockfile } = await import('../../../src/trust/lockfile-signature.js');
    const { parseSigningKey } = await import('../../../src/trust/keys.js');
    const { existsSync } = await import('node:fs');
    const registry = await new FakeRegistry().start();
    const pair = generateSigningKeyPair();
    const refs = ['a', 'b', 'c'].map((content) => {
      const files = { 'libx.so': Buffer.from(content.repeat(100)) };
      const lock = lockFor(files);
      const text = serializeLockfile(lock);
      const signature = Buffer.from(signLockfile(lock, text, parseSigningKey(pair.privatePem, 'k'), 't'));
      const artifact = pluginSetArtifact(Buffer.from(text), lock, signature, {});
      for (const blob of artifact.blobs) {
        registry.blobs.set(blob.descriptor.digest, blob.source.kind === 'lockfile' ? Buffer.from(text) : blob.source.kind === 'signature' ? signature : blob.source.kind === 'empty' ? Buffer.from('{}') : files['libx.so']);
      }
      return `${registry.host}/team/set@${registry.addDocument(artifact.top.bytes, artifact.top.mediaType)}`;
    });
    const dir = await tempDir('pb-store-');
    dirs.push(dir);
    const s = await RegistrySource.open({ storeDir: dir, storeMaxBytes: 1, platform: 'linux/amd64', trustedKeys: [parseTrustedKey(pair.publicPem, 'k.pub')], allowTag: false, log: () => {} });
    const first = await s.initial(refs[0]!, 5000);
    const second = await s.pullForReload(refs[1]!, AbortSignal.timeout(5000));
    expect(existsSync(first.dir) && existsSync(second.dir)).toBe(true);
    s.release(first);
    await s.markServing(second);
    s.release(second);
    const third = await s.pullForReload(refs[2]!, AbortSignal.timeout(5000));
    expect([existsSync(first.dir), existsSync(second.dir), existsSync(third.dir)]).toEqual([false, true, true]);
    await s.close();
    await registry.stop();
  });
});
