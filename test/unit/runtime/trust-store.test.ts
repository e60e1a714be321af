import { execFileSync } from 'node:child_process';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTrustedKeys } from '../../../src/runtime/trust-store.js';
import { generateSigningKeyPair } from '../../../src/trust/keys.js';
import { readSmallFile } from '../../../src/util/safe-file.js';
import { tempDir } from '../../helpers/fake-plugins.js';

describe('trusted keys', () => {
  it('reads --trust-key files and every *.pub of a trust directory, following operator links (Kubernetes ..data/)', async () => {
    const dir = await tempDir('pb-trust-');
    const [a, b] = [generateSigningKeyPair(), generateSigningKeyPair()];
    await mkdir(join(dir, '..data'));
    await writeFile(join(dir, '..data', 'a.pub'), a.publicPem);
    await symlink('..data/a.pub', join(dir, 'a.pub'));
    await writeFile(join(dir, 'notes.txt'), 'not a key');
    const extra = join(await tempDir('pb-trust-'), 'b.pub');
    await writeFile(extra, b.publicPem);
    const keys = await loadTrustedKeys([extra, extra], [dir]);
    expect(keys.map((k) => k.keyId).sort()).toEqual([a.keyId, b.keyId].sort());
  });

  it('fails closed: a malformed key, a private key, a FIFO or a missing directory stop the start', async () => {
    const dir = await tempDir('pb-trust-');
    await writeFile(join(dir, 'bad.pub'), 'garbage');
    await expect(loadTrustedKeys([], [dir])).rejects.toMatchObject({ code: 'BAD_KEY' });
    const priv = await tempDir('pb-trust-');
    await writeFile(join(priv, 'k.pub'), generateSigningKeyPair().privatePem);
    await expect(loadTrustedKeys([], [priv])).rejects.toThrow(/private key/);
    const fifo = await tempDir('pb-trust-');
    execFileSync('mkfifo', [join(fifo, 'f.pub')]);
    await expect(loadTrustedKeys([], [fifo])).rejects.toThrow(/FIFO/);
    await expect(loadTrustedKeys([], [join(dir, 'nope')])).rejects.toThrow(/cannot be read/);
  });

  it('deployment files are never read through a link; operator files may be', async () => {
    const dir = await tempDir('pb-link-');
    await writeFile(join(dir, 'real'), 'x');
    await symlink('real', join(dir, 'link'));
    await expect(readSmallFile(join(dir, 'link'), 'The lockfile', 10)).rejects.toMatchObject({ code: 'NOT_A_REGULAR_FILE' });
    expect((await readSmallFile(join(dir, 'link'), 'The token file', 10, { followSymlinks: true })).toString()).toBe('x');
    await symlink('/dev/zero', join(dir, 'zero'));
    await expect(readSmallFile(join(dir, 'zero'), 'The token file', 10, { followSymlinks: true })).rejects.toMatchObject({ code: 'NOT_A_REGULAR_FILE' });
  });
});
