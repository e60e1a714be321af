import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../../src/cli/program.js';
import { tempDir } from '../../helpers/fake-plugins.js';

async function host(args: string[], env: Record<string, string> = {}) {
  let stderr = '';
  const cwd = await tempDir('pb-cli-host-');
  const code = await runCli(['host', '--plugins', cwd, ...args], { cwd, env, stdout: () => {}, stderr: (t) => (stderr += t) });
  return { code, stderr, cwd };
}

describe('builder host: refusals before anything is loaded', () => {
  it('a non-loopback address without a token is refused, naming the remedies', async () => {
    const run = await host(['--listen', '0.0.0.0']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('needs a bearer token');
    expect(run.stderr).toContain('BUILDER_HOST_TOKEN');
  });

  it('weak or doubly given tokens are refused; --require-signature needs a key', async () => {
    expect((await host(['--listen', '0.0.0.0'], { BUILDER_HOST_TOKEN: 'short' })).stderr).toContain('at least 16 characters');
    const dir = await tempDir('pb-token-');
    await writeFile(join(dir, 't'), 'x'.repeat(20));
    expect((await host(['--token-file', join(dir, 't')], { BUILDER_HOST_TOKEN: 'y'.repeat(20) })).stderr).toContain('one way');
    expect((await host(['--require-signature'])).stderr).toContain('no trusted key');
    expect((await host(['--port', '70000'])).code).toBe(2);
    expect((await host(['--sealing', 'tmpfs'])).stderr).toContain('--sealing');
    expect((await host(['--reload-timeout', '0'])).stderr).toContain('positive');
    expect((await host(['--trust-dir', join(dir, 'missing')])).stderr).toContain('cannot be read');
    // One token rule with Go's: printable ASCII, no space of any kind (NBSP included).
    expect((await host([], { BUILDER_HOST_TOKEN: `${'a'.repeat(10)}\u00a0${'b'.repeat(10)}` })).stderr).toContain('printable ASCII');
    // The rollback floor, from the option or from BUILDER_HOST_MIN_SERIAL (which deploy bakes into the image).
    expect((await host(['--min-serial', '-1'])).stderr).toContain('--min-serial must be a non-negative integer');
    expect((await host([], { BUILDER_HOST_MIN_SERIAL: '12abc' })).stderr).toContain('--min-serial must be a non-negative integer, got "12abc"');
  });
});
