import type { Lockfile, MultiPlatformLockfile } from '../../src/lock/lockfile.js';

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
