import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../../src/cli/program.js';
import { generateSigningKeyPair, parseTrustedKey } from '../../../src/trust/keys.js';
import { verifyLockfileSignature } from '../../../src/trust/lockfile-signature.js';
import { deploy, tempDir } from '../../helpers/fake-plugins.js';

async function cli(cwd: string, args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { cwd, env: {}, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

describe('builder sign', () => {
  it('signs a directory whose artifacts match, and the host-side check accepts exactly that lockfile', async () => {
    const dir = await deploy({ 'libgreet.so': 'GREET:1.0.0:0' });
    const keys = await tempDir('pb-keys-');
    expect((await cli(keys, ['keygen', '--out-dir', keys])).code).toBe(0);
    const run = await cli(dir, ['sign', '--key', join(keys, 'builder-signing.key'), '--dir', dir, '--json']);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ outcome: 'signed', subjects: 2 });
    const trusted = parseTrustedKey(await readFile(join(keys, 'builder-signing.pub')), 'pub');
    const lockBytes = await readFile(join(dir, 'builder.lock.json'));
    expect(verifyLockfileSignature(lockBytes, await readFile(join(dir, 'builder.lock.json.sig'), 'utf8'), [trusted]).keyIds).toEqual([trusted.keyId]);
  });

  it('refuses to vouch for a FIFO, a link or a changed file, at once', async () => {
    const dir = await deploy({ 'libgreet.so': 'GREET:1.0.0:0' }, { 'libgreet.so': 'GREET:1.0.0:0', 'libfifo.so': 'F', 'libother.so': 'O' });
    execFileSync('mkfifo', [join(dir, 'libfifo.so')]);
    await writeFile(join(dir, 'libother.so'), 'P');
    const key = join(await tempDir('pb-key-'), 'k.key');
    await writeFile(key, generateSigningKeyPair().privatePem, { mode: 0o600 });
    const started = performance.now();
    const run = await cli(dir, ['sign', '--key', key, '--dir', dir]);
    expect(performance.now() - started).toBeLessThan(5000);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('libfifo.so');
    expect(run.stderr).toContain('FIFO');
    expect(run.stderr).toContain('libother.so');
  });
});
