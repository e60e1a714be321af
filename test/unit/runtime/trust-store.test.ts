import { execFileSync } from 'node:child_process';
import { chmod, chown, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTrustedKeys, onReadOnlyMount } from '../../../src/runtime/trust-store.js';
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

  it('as StrictModes: a trust directory or key others may write, a key linked from outside the directory, an empty trust directory — each refused', async () => {
    const key = generateSigningKeyPair().publicPem;
    const open = await tempDir('pb-trust-');
    await writeFile(join(open, 'k.pub'), key);
    await chmod(open, 0o777);
    await expect(loadTrustedKeys([], [open])).rejects.toThrow(/The trust directory .* is writable by every user \(mode 777\)/);
    await chmod(open, 0o775);
    await expect(loadTrustedKeys([], [open])).rejects.toThrow(/writable by its group/);
    await chmod(open, 0o755);
    await chmod(join(open, 'k.pub'), 0o666);
    await expect(loadTrustedKeys([], [open])).rejects.toThrow(/Trusted key .*k\.pub is writable by every user/);
    await expect(loadTrustedKeys([join(open, 'k.pub')], [])).rejects.toThrow(/writable by every user/);
    await chmod(join(open, 'k.pub'), 0o644);
    expect(await loadTrustedKeys([], [open])).toHaveLength(1);

    const outside = await tempDir('pb-trust-elsewhere-');
    await writeFile(join(outside, 'evil.pub'), generateSigningKeyPair().publicPem);
    const linked = await tempDir('pb-trust-');
    await symlink(join(outside, 'evil.pub'), join(linked, 'evil.pub'));
    await expect(loadTrustedKeys([], [linked])).rejects.toThrow(/is a link to .*evil\.pub, outside the trust directory/);

    const empty = await tempDir('pb-trust-');
    await writeFile(join(empty, 'README'), 'keys go here');
    await expect(loadTrustedKeys([], [empty])).rejects.toThrow(/holds no key \(\*\.pub\): naming a trust directory means lockfiles must be signed/);
  });

  it('up to /, as ssh walks it: a writable directory above (unless sticky), a key in a writable directory, an owner who is neither root nor us — refused', async () => {
    const key = generateSigningKeyPair().publicPem;
    const parent = await tempDir('pb-trust-parent-');
    await mkdir(join(parent, 'trust'));
    await writeFile(join(parent, 'trust', 'k.pub'), key);
    await chmod(parent, 0o777);
    await expect(loadTrustedKeys([], [join(parent, 'trust')])).rejects.toThrow(/a directory above it, is writable by every user/);
    await chmod(parent, 0o1777);
    expect(await loadTrustedKeys([], [join(parent, 'trust')])).toHaveLength(1);
    await chmod(parent, 0o777);
    await expect(loadTrustedKeys([join(parent, 'trust', 'k.pub')], [])).rejects.toThrow(/writable by every user/);
    await chmod(parent, 0o700);
    await chown(join(parent, 'trust', 'k.pub'), 12345, 12345);
    await expect(loadTrustedKeys([], [join(parent, 'trust')])).rejects.toThrow(/belongs to uid 12345, neither root nor this process's user/);
  });

  it('a read-only mount is exempt (a Kubernetes secret volume is 1777, mounted ro): the longest mount point that holds the path decides', async () => {
    const mountinfo = [
      '22 1 0:21 / / rw,relatime - overlay overlay rw',
      '30 22 0:40 / /app/trust ro,relatime - tmpfs tmpfs ro',
      '31 22 0:41 / /app/trust-rw rw,relatime - tmpfs tmpfs rw',
      '32 22 0:42 / /with\\040space ro - tmpfs tmpfs ro',
    ].join('\n');
    expect(onReadOnlyMount('/app/trust/k.pub', mountinfo)).toBe(true);
    expect(onReadOnlyMount('/app/trust', mountinfo)).toBe(true);
    expect(onReadOnlyMount('/app/trust-rw/k.pub', mountinfo)).toBe(false);
    expect(onReadOnlyMount('/app/trusted/k.pub', mountinfo)).toBe(false);
    expect(onReadOnlyMount('/with space/k.pub', mountinfo)).toBe(true);
    expect(onReadOnlyMount('/etc/x', '')).toBe(false);
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
