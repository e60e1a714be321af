import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { followingSymlinks } from '../../../src/env/file-source.js';
import { diffFingerprints, fingerprintHash } from '../../../src/env/fingerprint.js';
import { LiveEntryReader } from '../../../src/env/live-file-source.js';
import { muslVersionFromLoader, parseOsRelease, ProbeFailure, probeEnvironment } from '../../../src/env/probe-environment.js';
import { liveFingerprint } from '../../../src/runtime/live-environment.js';
import { DEBIAN_12, fakeElf, memoryRoot, writeRoot } from '../../helpers/fake-root.js';

const BOOKWORM = { os: { id: 'debian', versionId: '12' }, arch: 'x86_64', libc: { family: 'glibc', version: '2.36' } } as const;

describe('probeEnvironment', () => {
  it('reads os-release through a relative symlink and glibc from its banner', async () => {
    expect(await probeEnvironment(followingSymlinks(memoryRoot(DEBIAN_12)))).toEqual(BOOKWORM);
  });

  it('gives the same hash from an in-memory root and from a real directory (one implementation, two sources)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pb-root-'));
    await writeRoot(dir, DEBIAN_12);
    const fromMemory = await probeEnvironment(followingSymlinks(memoryRoot(DEBIAN_12)));
    const fromDisk = await liveFingerprint(dir);
    expect(fingerprintHash(fromDisk)).toBe(fingerprintHash(fromMemory));
    expect(await probeEnvironment(followingSymlinks(new LiveEntryReader(dir)))).toEqual(fromDisk);
  });

  it('reports musl and its version from apk, dpkg, or the loader itself', async () => {
    const loader = fakeElf('\0musl libc (x86_64)\nVersion %s\n\0junk\0' + '\0'.repeat(40) + '1.2.5\0');
    const base = { '/etc/os-release': 'ID=alpine\nVERSION_ID=3.20.0\n', '/lib/ld-musl-x86_64.so.1': loader };
    const apk = await probeEnvironment(followingSymlinks(memoryRoot({ ...base, '/lib/apk/db/installed': 'C:x\nP:musl\nV:1.2.4-r2\n' })));
    expect(apk.libc).toEqual({ family: 'musl', version: '1.2.4' });
    const dpkg = await probeEnvironment(followingSymlinks(memoryRoot({ ...base, '/var/lib/dpkg/status': 'Package: musl-dev\nVersion: 9\n\nPackage: musl\nStatus: ok\nVersion: 1.2.3-1\n' })));
    expect(dpkg.libc.version).toBe('1.2.3');
    expect((await probeEnvironment(followingSymlinks(memoryRoot(base)))).libc.version).toBe('1.2.5');
    expect(muslVersionFromLoader(Buffer.from('no anchor here'))).toBeNull();
  });

  it('prefers glibc on a glibc system with musl installed, unless asked for musl', async () => {
    const both = { ...DEBIAN_12, '/lib/ld-musl-x86_64.so.1': fakeElf('musl libc\0' + '1.2.5\0'), '/var/lib/dpkg/status': 'Package: musl\nVersion: 1.2.5-3\n' };
    expect((await probeEnvironment(followingSymlinks(memoryRoot(both)))).libc.family).toBe('glibc');
    expect((await probeEnvironment(followingSymlinks(memoryRoot(both)), { libc: 'musl' })).libc).toEqual({ family: 'musl', version: '1.2.5' });
  });

  it('fails clearly without os-release or a C library', async () => {
    await expect(probeEnvironment(followingSymlinks(memoryRoot({})))).rejects.toThrow(ProbeFailure);
    await expect(probeEnvironment(followingSymlinks(memoryRoot({ '/etc/os-release': 'ID=x\n' })))).rejects.toThrow(/neither glibc/);
  });

  it('does not hang on a symlink loop', async () => {
    const loop = followingSymlinks(memoryRoot({ '/a': { link: '/b' }, '/b': { link: '/a' } }));
    expect(await loop.readFile('/a')).toBeNull();
  });

  it('parses quoted os-release values', () => {
    expect(parseOsRelease('ID="debian"\nVERSION_ID=\'12\'\n# comment\nNAME="A \\"q\\""\n')).toEqual({ ID: 'debian', VERSION_ID: '12', NAME: 'A "q"' });
  });
});

describe('fingerprints', () => {
  it('hash ignores key order; diff names each changed field', () => {
    const reordered = { libc: { version: '2.36', family: 'glibc' as const }, arch: 'x86_64', os: { versionId: '12', id: 'debian' } };
    expect(fingerprintHash(reordered)).toBe(fingerprintHash(BOOKWORM));
    expect(diffFingerprints(BOOKWORM, { ...BOOKWORM, os: { id: 'debian', versionId: '13' }, libc: { family: 'glibc', version: '2.41' } })).toEqual([
      { field: 'libc.version', expected: '2.36', actual: '2.41' },
      { field: 'os.versionId', expected: '12', actual: '13' },
    ]);
    expect(diffFingerprints(BOOKWORM, BOOKWORM)).toEqual([]);
  });
});
