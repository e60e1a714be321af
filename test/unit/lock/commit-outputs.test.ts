import { mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { commitOutputs } from '../../../src/lock/commit-outputs.js';
import { OutputWriteError } from '../../../src/errors.js';

async function layout() {
  const dir = await mkdtemp(join(tmpdir(), 'pb-commit-'));
  const out = join(dir, 'out');
  const staging = join(out, '.builder-staging-x');
  await mkdir(staging, { recursive: true });
  await writeFile(join(out, 'liba.so'), 'old a');
  await writeFile(join(dir, 'builder.lock.json'), 'old lock');
  await writeFile(join(dir, 'builder.lock.json.sig'), 'old sig');
  await writeFile(join(staging, 'liba.so'), 'new a');
  await writeFile(join(staging, 'libb.so'), 'new b');
  const plan = {
    artifacts: [
      { staged: join(staging, 'liba.so'), dest: join(out, 'liba.so') },
      { staged: join(staging, 'libb.so'), dest: join(out, 'libb.so') },
    ],
    lockfile: { path: join(dir, 'builder.lock.json'), text: 'new lock' },
    signature: { path: join(dir, 'builder.lock.json.sig'), text: 'new sig' },
  };
  return { dir, out, staging, plan };
}

describe('commitOutputs', () => {
  it('puts every artifact, the signature and the lockfile in place, leaving no temp or backup', async () => {
    const { dir, out, staging, plan } = await layout();
    await commitOutputs(plan, staging);
    expect(await readFile(join(out, 'liba.so'), 'utf8')).toBe('new a');
    expect(await readFile(join(out, 'libb.so'), 'utf8')).toBe('new b');
    expect(await readFile(join(dir, 'builder.lock.json'), 'utf8')).toBe('new lock');
    expect(await readFile(join(dir, 'builder.lock.json.sig'), 'utf8')).toBe('new sig');
    expect((await readdir(dir)).sort()).toEqual(['builder.lock.json', 'builder.lock.json.sig', 'out']);
    expect(await readdir(staging)).toEqual([]);
  });

  it('when the lockfile cannot be replaced last, every artifact and the signature get their previous bytes back', async () => {
    const { dir, out, staging, plan } = await layout();
    // A directory where the lockfile should go (swapped in mid-build): the final rename fails.
    const lockDir = join(dir, 'locks');
    await mkdir(join(lockDir, 'builder.lock.json'), { recursive: true });
    await writeFile(join(lockDir, 'builder.lock.json', 'keep'), 'x');
    const error = await commitOutputs({ ...plan, lockfile: { path: join(lockDir, 'builder.lock.json'), text: 'new lock' } }, staging).then(() => null, (err: unknown) => err);
    expect(error).toBeInstanceOf(OutputWriteError);
    expect((error as Error).message).toContain(join(lockDir, 'builder.lock.json'));
    expect(await readFile(join(out, 'liba.so'), 'utf8')).toBe('old a');
    expect(await readdir(out)).toEqual(['.builder-staging-x', 'liba.so']);
    expect(await readFile(join(dir, 'builder.lock.json.sig'), 'utf8')).toBe('old sig');
    expect(await readdir(lockDir)).toEqual(['builder.lock.json']);
    expect(await readdir(staging)).toEqual([]);
  });

  it('a lockfile that cannot be written fails before any artifact moves', async () => {
    const { dir, out, staging, plan } = await layout();
    const error = await commitOutputs({ ...plan, lockfile: { path: join(dir, 'missing-dir', 'builder.lock.json'), text: 'new lock' } }, staging).then(() => null, (err: unknown) => err);
    expect(error).toBeInstanceOf(OutputWriteError);
    expect((error as OutputWriteError).message).toMatch(/missing-dir\/builder\.lock\.json: ENOENT/);
    expect(await readFile(join(out, 'liba.so'), 'utf8')).toBe('old a');
    expect(await readdir(staging)).toEqual(['liba.so', 'libb.so']);
    expect(await readdir(dir)).not.toContain('libb.so');
  });

  it('removes a stale signature with an unsigned lockfile, and restores it on failure', async () => {
    const { dir, staging, plan } = await layout();
    await commitOutputs({ ...plan, signature: { path: plan.signature.path, text: null } }, staging);
    expect(await readdir(dir)).not.toContain('builder.lock.json.sig');
  });
});
