import { execFileSync } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { requireDocker, skipDocker } from '../helpers/docker.js';
import { copyProject, REPO } from '../helpers/project.js';

/** The compiled CLI on a real pseudo-terminal (util-linux `script`), as a person at a terminal runs it. */
describe.skipIf(skipDocker)('--progress on a real terminal', () => {
  beforeAll(requireDocker);

  it('auto on a pty: a live area redrawn in place (cursor up, erase below), gone at the end; the summary after it', async () => {
    const dir = await copyProject('examples/hello');
    const command = `node ${join(REPO, 'dist/builder.js')} build --no-cache -j 1`;
    // CI unset: in CI, auto means plain even on a terminal.
    const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm', COLUMNS: '100' };
    delete env.CI;
    const raw = execFileSync('script', ['-qec', command, '/dev/null'], { cwd: dir, env, encoding: 'utf8', maxBuffer: 16 << 20 });
    expect(raw).toMatch(/\x1b\[\d+A\x1b\[J/);
    expect(raw).toMatch(/greet \(c\): building \d+ s/);
    // What stays on the screen once the live area is erased: the plain record and the summary.
    const lines = raw.replace(/\r/g, '').split('\n');
    expect(lines.some((l) => /greet: built in [\d.]+ s/.test(l))).toBe(true);
    expect(raw).toMatch(/Built 2 plugin\(s\) into/);
    expect(raw.lastIndexOf('\x1b[')).toBeLessThan(raw.indexOf('Built 2 plugin(s)'));
    await rm(dir, { recursive: true, force: true });
  }, 300_000);
});
