import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type MultiPlatformLockfile, serializeLockfile } from '../../../src/lock/lockfile.js';
import { FileSealer } from '../../../src/runtime/file-sealer.js';
import { PluginHost } from '../../../src/runtime/plugin-host.js';
import { generateSigningKeyPair, parseSigningKey, parseTrustedKey } from '../../../src/trust/keys.js';
import { signLockfile } from '../../../src/trust/lockfile-signature.js';
import { ENV, fakeLoader, lockFor, sha, tempDir } from '../../helpers/fake-plugins.js';

const ARM = { ...ENV, arch: 'aarch64' };
const AMD_BYTES = 'GREET:1.0.0:0';
const ARM_BYTES = 'GREET:1.0.0:9'; // the same size: only the hash tells them apart

/** A deployed plugin directory of a multi-platform build: both lockfile sections, each platform's files in its directory. */
async function deployMulti(platforms: Array<'linux/amd64' | 'linux/arm64'>, sign?: ReturnType<typeof parseSigningKey>): Promise<string> {
  const dir = await tempDir('pb-multi-');
  const sections: MultiPlatformLockfile['platforms'] = {};
  for (const platform of platforms) {
    const bytes = platform === 'linux/amd64' ? AMD_BYTES : ARM_BYTES;
    const { host, builder, plugins } = lockFor({ 'libgreet.so': bytes }, platform === 'linux/amd64' ? ENV : ARM);
    sections[platform] = { host, builder, plugins };
    await mkdir(join(dir, platform.replace('/', '-')));
    await writeFile(join(dir, platform.replace('/', '-'), 'libgreet.so'), bytes);
  }
  const doc: MultiPlatformLockfile = { lockfileVersion: 1, platforms: sections };
  const text = serializeLockfile(doc);
  await writeFile(join(dir, 'builder.lock.json'), text);
  if (sign) await writeFile(join(dir, 'builder.lock.json.sig'), signLockfile(doc, text, sign, '1.0.0'));
  return dir;
}

const hosts: PluginHost[] = [];
afterEach(async () => {
  await Promise.all(hosts.splice(0).map((h) => h.close()));
});

async function open(dir: string, live = ENV, trustedKeys: ReturnType<typeof parseTrustedKey>[] = []) {
  const loader = fakeLoader();
  const host = await PluginHost.open({ pluginDir: dir, loader, sealer: new FileSealer(await tempDir('pb-seal-')), liveEnvironment: live, trustedKeys });
  hosts.push(host);
  return { host, loader };
}

describe('PluginHost with a multi-platform lockfile', () => {
  it('an amd64 host loads the linux/amd64 entries from linux-amd64/, an arm64 host the linux/arm64 ones', async () => {
    const dir = await deployMulti(['linux/amd64', 'linux/arm64']);
    const amd = await open(dir, ENV);
    expect(amd.host.plugins()).toEqual([expect.objectContaining({ name: 'greet', status: 'loaded', file: 'linux-amd64/libgreet.so', sha256: sha(AMD_BYTES) })]);
    expect(amd.host.call('greet', 'Add', [1, 2])).toBe(3);
    const arm = await open(dir, ARM);
    expect(arm.host.plugins()).toEqual([expect.objectContaining({ status: 'loaded', file: 'linux-arm64/libgreet.so', sha256: sha(ARM_BYTES) })]);
    expect(arm.host.call('greet', 'Add', [1, 2])).toBe(12);
  });

  it('a host whose platform the lockfile lacks loads nothing, naming the platforms and the fix', async () => {
    const dir = await deployMulti(['linux/arm64']);
    const { host, loader } = await open(dir, ENV);
    expect(host.report().lockfile).toMatchObject({ status: 'refused', code: 'PLATFORM_NOT_LOCKED', reason: expect.stringContaining('holds plugins for linux/arm64; this host is linux/amd64') });
    expect(loader.paths).toEqual([]);
  });

  it('the other platform\'s file swapped into this platform\'s directory is refused by its hash', async () => {
    const dir = await deployMulti(['linux/amd64', 'linux/arm64']);
    await writeFile(join(dir, 'linux-amd64', 'libgreet.so'), ARM_BYTES);
    const { host, loader } = await open(dir, ENV);
    expect(host.plugins()).toEqual([expect.objectContaining({ status: 'rejected', code: 'HASH_MISMATCH', file: 'linux-amd64/libgreet.so' })]);
    expect(loader.paths).toEqual([]);
  });

  it('unlisted .so files in its directory are reported by their path under the plugin directory', async () => {
    const dir = await deployMulti(['linux/amd64']);
    await writeFile(join(dir, 'linux-amd64', 'libextra.so'), 'X');
    const { host } = await open(dir, ENV);
    expect(host.plugins().map((p) => [p.name, p.status, p.code])).toEqual([['greet', 'loaded', undefined], ['linux-amd64/libextra.so', 'rejected', 'UNKNOWN_PLUGIN']]);
  });

  it('with trusted keys: the signature over the whole lockfile covers this platform\'s artifacts by their paths', async () => {
    const pair = generateSigningKeyPair();
    const key = parseSigningKey(pair.privatePem, 'k');
    const dir = await deployMulti(['linux/amd64', 'linux/arm64'], key);
    const { host } = await open(dir, ARM, [parseTrustedKey(pair.publicPem, 'k.pub')]);
    expect(host.report()).toMatchObject({ trust: 'signed', lockfile: { status: 'accepted', signedBy: [key.keyId] } });
    expect(host.plugins()).toEqual([expect.objectContaining({ status: 'loaded', file: 'linux-arm64/libgreet.so' })]);
  });
});
