import { fingerprintHash } from '../../src/env/fingerprint.js';
import { type Lockfile, type MultiPlatformLockfile, serializeLockfile } from '../../src/lock/lockfile.js';

const H = (c: string) => `sha256:${c.repeat(64)}`;

/** Two platforms, as a build of a config with host.platforms writes them. */
export function sampleMultiLock(): MultiPlatformLockfile {
  const amd = single();
  const arm = single();
  arm.host = { ...arm.host, image: 'host:1-arm64', imageId: H('f'), fingerprint: { ...arm.host.fingerprint, arch: 'aarch64' } };
  arm.builder = { ...arm.builder, fingerprint: { ...arm.builder.fingerprint, arch: 'aarch64' } };
  arm.plugins = { greet: { ...arm.plugins.greet!, sha256: '9'.repeat(64) } };
  const section = ({ host, builder, plugins }: typeof amd) => ({ host, builder, plugins });
  return { lockfileVersion: 1, platforms: { 'linux/amd64': section(amd), 'linux/arm64': section(arm) } };
}


function single(): Lockfile {
  return {
    lockfileVersion: 1,
    host: { image: 'host:1', imageId: H('a'), fingerprint: { os: { id: 'debian', versionId: '12' }, arch: 'x86_64', libc: { family: 'glibc', version: '2.36' } }, fingerprintHash: H('b') },
    builder: { image: 'b:1', imageId: H('c'), fingerprint: { os: { id: 'debian', versionId: '12' }, arch: 'x86_64', libc: { family: 'glibc', version: '2.36' } }, fingerprintHash: H('b'), toolchain: { gcc: '12.2.0' } },
    plugins: { greet: { kind: 'c', file: 'libgreet.so', sha256: 'd'.repeat(64), size: 10, inputsHash: H('e') } },
  };
}

/**
 * A valid lockfile that no build of a test project writes (it locks no plugin, for a host image
 * that does not exist): put where a build would write, it must still be there, byte for byte,
 * after a build that fails or is stopped. (An unreadable one would stop the build at once:
 * LOCKFILE_INVALID.)
 */
export function sentinelLockfile(): string {
  const fingerprint = { os: { id: 'debian', versionId: '12' }, arch: 'x86_64', libc: { family: 'glibc' as const, version: '2.36' } };
  const env = { image: 'sentinel/previous:lockfile', imageId: `sha256:${'0'.repeat(64)}`, fingerprint, fingerprintHash: fingerprintHash(fingerprint) };
  return serializeLockfile({ lockfileVersion: 1, host: env, builder: { ...env, toolchain: {} }, plugins: {} });
}
