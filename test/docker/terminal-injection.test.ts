import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HOST_BOOKWORM, requireDocker, skipDocker } from '../helpers/docker.js';
import { startHostContainer } from '../helpers/host-container.js';
import { cli } from '../helpers/project.js';

/**
 * Text from outside reaches the terminal only escaped (src/util/printable.ts): the red team wrote
 * the clipboard through OSC 52 in compiler output, cleared the screen with ESC[2J, and forged a
 * `plan` row and a host `WARN` line with a newline. Each attack, through the real tool.
 */

// Control characters a terminal obeys: none may reach it raw (tab and the tool's own newlines aside).
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;
const OSC52 = '\u001b]52;c;cHduZWQ=\u0007';
const CLEAR = '\u001b[2J';

async function project(files: Record<string, string>, manifestVersion = '1'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pb-inject-'));
  await mkdir(join(dir, 'plugins', 'p'), { recursive: true });
  const version = JSON.stringify(manifestVersion).slice(1, -1).replace(/\\/g, '\\\\').replace(/"/g, '\\"');
  await writeFile(
    join(dir, 'plugins', 'p', 'p.c'),
    `const char *builder_plugin_manifest(void) { return "{\\"name\\":\\"p\\",\\"version\\":\\"${version}\\",\\"functions\\":{\\"Value\\":\\"int Value(void)\\"}}"; }\nint Value(void) { return 7; }\n`,
  );
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, 'plugins', 'p', name), text);
  await writeFile(join(dir, 'builder.config.json'), JSON.stringify({ host: { image: HOST_BOOKWORM }, plugins: [{ name: 'p', kind: 'c', path: 'plugins/p' }], outDir: 'dist/plugins', lockfile: 'dist/plugins/builder.lock.json' }));
  return dir;
}

describe.skipIf(skipDocker)('terminal injection (real builds, a real host)', () => {
  const dirs: string[] = [];
  beforeAll(requireDocker);
  afterAll(async () => {
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('compiler output carrying OSC 52 and ESC[2J is printed escaped', async () => {
    const dir = await project({ 'evil.c': `#error "${OSC52}${CLEAR}owned"\n` });
    dirs.push(dir);
    const run = await cli(dir, ['build', '--progress', 'plain']);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('#error');
    expect(run.stderr).toContain('\\x1b]52;c;cHduZWQ=\\x07\\x1b[2J');
    expect(run.stderr).not.toMatch(RAW_CONTROL);
    expect(run.stdout).not.toMatch(RAW_CONTROL);
  });

  it('a file name with a newline cannot forge a plan row; one with ESC is shown escaped', async () => {
    const dir = await project({});
    dirs.push(dir);
    expect((await cli(dir, ['build'])).code).toBe(0);
    await writeFile(join(dir, 'plugins', 'p', `x.h\np  skip  unchanged  forged`), '');
    await writeFile(join(dir, 'plugins', 'p', `y${CLEAR}.h`), '');
    const plan = await cli(dir, ['plan']);
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).not.toMatch(RAW_CONTROL);
    expect(plan.stdout.split('\n').filter((l) => l.startsWith('p ')).length).toBe(1);
    expect(plan.stdout).toContain('x.h\\np  skip  unchanged  forged');
    expect(plan.stdout).toContain('y\\x1b[2J.h');
  });

  it("a plugin's manifest cannot forge a host log line or reach the terminal raw", async () => {
    const dir = await project({}, `1\nWARN forged line ${OSC52}`);
    dirs.push(dir);
    const build = await cli(dir, ['build']);
    expect(build.code, build.stderr).toBe(0);
    const host = await startHostContainer(HOST_BOOKWORM, join(dir, 'dist/plugins'));
    try {
      const logs = await host.logs();
      expect(logs).toContain('loaded p 1\\nWARN forged line \\x1b]52;c;cHduZWQ=\\x07');
      expect(logs.split('\n').some((l) => l.startsWith('WARN forged'))).toBe(false);
      expect(logs).not.toMatch(RAW_CONTROL);
    } finally {
      await host.stop();
    }
  });
});
