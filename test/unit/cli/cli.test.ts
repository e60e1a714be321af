import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../../src/cli/program.js';

async function run(cwd: string, args: string[], env: Record<string, string> = {}) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { cwd, env, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

async function project(config: unknown): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pb-cli-'));
  await mkdir(join(dir, 'plugins/greet'), { recursive: true });
  await writeFile(join(dir, 'plugins/greet/greet.c'), 'int x;');
  await writeFile(join(dir, 'builder.config.json'), JSON.stringify(config));
  return dir;
}

describe('builder CLI (no engine needed)', () => {
  it('--version and -V print the package version, exit 0', async () => {
    const { version } = JSON.parse(await readFile(join(import.meta.dirname, '../../../package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const result = await run(tmpdir(), [flag]);
      expect(result).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    }
  });

  it('a missing config: exit 2, says so, names -c', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pb-cli-'));
    const result = await run(dir, ['build', '-c', 'missing.json']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('file not found (pass another path with -c)');
  });

  it('--json errors are one object with an outcome, a code and the issues', async () => {
    const dir = await project({ host: { image: 'h' }, plugins: [{ name: 'greet', kind: 'rust', path: 'plugins/greet' }] });
    const result = await run(dir, ['build', '--json']);
    expect(result.code).toBe(2);
    const answer = JSON.parse(result.stdout) as { outcome: string; error: { code: string; issues: Array<{ field: string }> } };
    expect(answer.outcome).toBe('error');
    expect(answer.error.code).toBe('CONFIG_INVALID');
    expect(answer.error.issues.map((i) => i.field)).toEqual(['plugins[0].kind']);
  });

  it('an unreachable engine: exit 2 and the message names DOCKER_HOST', async () => {
    const dir = await project({ host: { image: 'h' }, plugins: [{ name: 'greet', kind: 'c', path: 'plugins/greet' }] });
    const result = await run(dir, ['build'], { DOCKER_HOST: 'tcp://127.0.0.1:1' });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('No Docker engine answers at tcp://127.0.0.1:1 (DOCKER_HOST)');
    expect(result.stderr).toContain('fix: Check that an engine listens on 127.0.0.1:1');
  });

  it('--help exits 0 and lists the commands', async () => {
    const result = await run(tmpdir(), ['--help']);
    expect(result.code).toBe(0);
    for (const command of ['build', 'env', 'verify', 'drift', 'host']) expect(result.stdout).toContain(command);
  });
});
