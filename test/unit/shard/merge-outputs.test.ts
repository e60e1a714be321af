import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type Lockfile, serializeLockfile } from '../../../src/lock/lockfile.js';
import { lockGenerator } from '../../../src/version.js';
import { pluginsOfShard, sortedNames } from '../../../src/shard/shard.js';
import { ENV, H, tempDir } from '../../helpers/fake-plugins.js';
import { cli } from '../../helpers/project.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const env = { image: 'h', imageId: H('1'), fingerprint: ENV, fingerprintHash: H('2') };
const base = { lockfileVersion: 1 as const, host: env, builder: { ...env, image: 'plugin-builder/builder:x', toolchain: { gcc: '12' } } };
const NAMES = ['alpha', 'beta', 'gamma', 'delta', 'epsilon'];
const bytes = (name: string) => Buffer.from(`\x7fELF fake artifact of ${name}\n`.repeat(50 + name.length));

/** Three shard directories as CI would download them, the single-machine lockfile, and the merge job's project. */
async function layout(): Promise<{ root: string; shards: string[]; whole: string }> {
  const root = await tempDir('pb-merge-');
  const plugins = Object.fromEntries(NAMES.map((n) => [n, { kind: 'c' as const, file: `lib${n}.so`, sha256: sha(bytes(n)), size: bytes(n).length, inputsHash: H('a') }]));
  const shards: string[] = [];
  for (let k = 1; k <= 3; k++) {
    const shard = { index: k, count: 3, plugins: sortedNames(NAMES) };
    const mine = pluginsOfShard(NAMES, shard);
    const dir = join(root, 'shards', String(k));
    await mkdir(dir, { recursive: true });
    for (const n of mine) await writeFile(join(dir, `lib${n}.so`), bytes(n));
    // Shards written by another version of the tool: the merged file names the tool that merged.
    const lock: Lockfile = { ...base, generator: { tool: 'plugin-builder 0.0.1', node: 'v18.0.0' }, plugins: Object.fromEntries(mine.map((n) => [n, plugins[n]!])), shard };
    await writeFile(join(dir, 'builder.lock.json'), serializeLockfile(lock));
    shards.push(`shards/${k}/builder.lock.json`);
  }
  await writeFile(join(root, 'builder.config.json'), JSON.stringify({ host: { image: 'h' }, plugins: NAMES.map((n) => ({ name: n, kind: 'c', path: `src/${n}` })), outDir: 'dist/plugins', lockfile: 'dist/plugins/builder.lock.json' }));
  for (const n of NAMES) {
    await mkdir(join(root, 'src', n), { recursive: true });
    await writeFile(join(root, 'src', n, `${n}.c`), 'int x;\n');
  }
  return { root, shards, whole: serializeLockfile({ ...base, plugins, generator: lockGenerator() }) };
}

const mounts: string[] = [];
afterAll(() => {
  for (const dir of mounts.reverse()) execFileSync('umount', ['-l', dir]);
});

describe('builder lock merge (real files, no engine)', () => {
  it('merges three shards into the config\'s outDir: lockfile byte-identical to the whole, artifacts copied; --json names where each came from; a rerun changes nothing', async () => {
    const { root, shards, whole } = await layout();
    const run = await cli(root, ['lock', 'merge', ...shards]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('Merged 3 shard lockfile(s): 5 plugin(s) (alpha, beta, delta, epsilon, gamma)');
    expect(await readFile(join(root, 'dist/plugins/builder.lock.json'), 'utf8')).toBe(whole);
    for (const n of NAMES) expect((await readFile(join(root, 'dist/plugins', `lib${n}.so`))).equals(bytes(n))).toBe(true);
    expect((await readdir(join(root, 'dist/plugins'))).filter((f) => f.startsWith('.builder-staging-'))).toEqual([]);
    const json = JSON.parse((await cli(root, ['lock', 'merge', ...shards, '--json'])).stdout);
    expect(json).toMatchObject({ outcome: 'merged', shards: 3, plugins: { alpha: join(root, 'shards/1/builder.lock.json') } });
  });

  it('--out-dir writes DIR/builder.lock.json; a stale signature beside it is removed', async () => {
    const { root, shards, whole } = await layout();
    await mkdir(join(root, 'out'));
    await writeFile(join(root, 'out/builder.lock.json'), '{"old": true}\n');
    await writeFile(join(root, 'out/builder.lock.json.sig'), 'old signature');
    const run = await cli(root, ['lock', 'merge', '--out-dir', 'out', ...shards]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain(`removed ${join(root, 'out/builder.lock.json.sig')}`);
    expect(await readFile(join(root, 'out/builder.lock.json'), 'utf8')).toBe(whole);
    await expect(readFile(join(root, 'out/builder.lock.json.sig'))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('a rewritten, resized, symlinked or FIFO artifact is refused (no hang), and the previous outputs stay as they were', async () => {
    const { root, shards } = await layout();
    await mkdir(join(root, 'dist/plugins'), { recursive: true });
    await writeFile(join(root, 'dist/plugins/builder.lock.json'), 'previous\n');
    await writeFile(join(root, 'dist/plugins/libalpha.so'), 'previous alpha');
    const attacks: Array<[string, (file: string) => Promise<void>, string]> = [
      ['rewritten', async (f) => writeFile(f, Buffer.from(bytes('alpha')).fill(0x41, 10, 20)), "does not match the lockfile's"],
      ['resized', async (f) => writeFile(f, Buffer.concat([bytes('alpha'), Buffer.from('x')])), 'bytes; the lockfile says'],
      ['symlink', async (f) => { await writeFile(`${f}.real`, bytes('alpha')); execFileSync('rm', [f]); await symlink(`${f}.real`, f); }, 'symbolic link'],
      ['fifo', async (f) => { execFileSync('rm', [f]); execFileSync('mkfifo', [f]); }, 'FIFO'],
    ];
    // alpha is in shard 1 (sorted: alpha beta delta epsilon gamma → 1: alpha, epsilon).
    const target = join(root, 'shards/1/libalpha.so');
    for (const [what, attack, expected] of attacks) {
      execFileSync('rm', ['-f', target, `${target}.real`]);
      await writeFile(target, bytes('alpha'));
      await attack(target);
      const run = await cli(root, ['lock', 'merge', ...shards]);
      expect(run.code, what).not.toBe(0);
      expect(run.stderr, what).toContain(expected);
      expect(await readFile(join(root, 'dist/plugins/builder.lock.json'), 'utf8')).toBe('previous\n');
      expect(await readFile(join(root, 'dist/plugins/libalpha.so'), 'utf8')).toBe('previous alpha');
      expect((await readdir(join(root, 'dist/plugins'))).sort()).toEqual(['builder.lock.json', 'libalpha.so']);
    }
  }, 30_000);

  it('a full disk under outDir fails naming the path, and leaves nothing behind', async () => {
    const { root, shards } = await layout();
    const out = join(root, 'dist/plugins');
    await mkdir(out, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8k', 'tmpfs', out]);
    mounts.push(out);
    const run = await cli(root, ['lock', 'merge', ...shards]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/ENOSPC|no space left/);
    expect(await readdir(out)).toEqual([]);
  });

  it('a missing shard is refused before anything is written', async () => {
    const { root, shards } = await layout();
    const run = await cli(root, ['lock', 'merge', shards[0]!, shards[2]!]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('Shard 2/3 missing: the merged lockfile would lack beta, gamma.');
    await expect(readdir(join(root, 'dist/plugins'))).resolves.toEqual([]);
  });
});
