import { createHash } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseLockfile } from '../../src/lock/lockfile.js';
import { requireDocker, skipDocker } from '../helpers/docker.js';
import { cli, copyProject } from '../helpers/project.js';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

describe.skipIf(skipDocker)('builder build on the bundled example (real engine)', () => {
  let first: string;
  let second: string;

  beforeAll(async () => {
    await requireDocker();
    // Two independent project copies: every plugin is built twice, in fresh containers.
    first = await copyProject('examples/hello');
    second = await copyProject('examples/hello');
    for (const dir of [first, second]) {
      const run = await cli(dir, ['build']);
      expect(run.code, run.stderr).toBe(0);
    }
  });

  it('writes a lockfile with the contract keys and the real hashes of the files', async () => {
    const text = await readFile(join(first, 'dist/plugins/builder.lock.json'), 'utf8');
    expect(text.endsWith('}\n')).toBe(true);
    const lock = parseLockfile(text);
    expect(lock.lockfileVersion).toBe(1);
    expect(lock.host.image).toBe('plugin-builder/example-host:bookworm');
    expect(lock.host.imageId).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(lock.host.fingerprint).toEqual({ os: { id: 'debian', versionId: '12' }, arch: 'x86_64', libc: { family: 'glibc', version: '2.36' } });
    expect(lock.builder.fingerprintHash).toBe(lock.host.fingerprintHash);
    expect(lock.builder.toolchain.gcc).toMatch(/^12\./);
    expect(lock.builder.toolchain.go).toMatch(/^go1\.19/);
    expect(Object.keys(lock.plugins).sort()).toEqual(['greet', 'shout']);
    for (const [name, entry] of Object.entries(lock.plugins)) {
      const bytes = await readFile(join(first, 'dist/plugins', entry.file));
      expect(entry.file).toBe(`lib${name}.so`);
      expect(entry.sha256).toBe(sha256(bytes));
      expect(entry.size).toBe(bytes.length);
      expect(entry.inputsHash).toMatch(/^sha256:[0-9a-f]{64}$/);
      expect(bytes.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
    }
    expect(lock.plugins.greet?.kind).toBe('c');
    expect(lock.plugins.shout?.kind).toBe('go-c-shared');
  });

  it('builds byte-identical plugins in fresh containers', async () => {
    const a = parseLockfile(await readFile(join(first, 'dist/plugins/builder.lock.json'), 'utf8'));
    const b = parseLockfile(await readFile(join(second, 'dist/plugins/builder.lock.json'), 'utf8'));
    expect(b.plugins.greet?.sha256).toBe(a.plugins.greet?.sha256);
    expect(b.plugins.shout?.sha256).toBe(a.plugins.shout?.sha256);
    expect(b.plugins).toEqual(a.plugins);
  });

  it('--check rebuilds, passes when the bytes match, and writes nothing', async () => {
    const lockPath = join(first, 'dist/plugins/builder.lock.json');
    const before = await stat(lockPath);
    const run = await cli(first, ['build', '--check', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as { outcome: string; plugins: Array<{ name: string; status: string }> };
    expect(report.outcome).toBe('check-passed');
    expect(report.plugins.map((p) => p.status)).toEqual(['identical', 'identical']);
    expect((await stat(lockPath)).mtimeMs).toBe(before.mtimeMs);
  });

  it('--check fails and names the plugin whose locked bytes differ', async () => {
    const lockPath = join(second, 'dist/plugins/builder.lock.json');
    const lock = parseLockfile(await readFile(lockPath, 'utf8'));
    (lock.plugins.shout as { sha256: string }).sha256 = '0'.repeat(64);
    await writeFile(lockPath, JSON.stringify(lock));
    const run = await cli(second, ['build', '--check']);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('Check FAILED');
    expect(run.stdout).toMatch(/shout\s+go-c-shared\s+differs/);
    expect(run.stdout).toMatch(/greet\s+c\s+identical/);
  });
});
