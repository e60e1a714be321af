import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLockfile } from '../../src/lock/lockfile.js';
import type { RehearsalReport } from '../../src/rehearse/rehearse-host.js';
import { engine, HOST_ARM64, HOST_BOOKWORM, HOST_TRIXIE, requireDocker, skipDocker } from '../helpers/docker.js';
import { cli, copyProject, REPO } from '../helpers/project.js';

const manifest = (name: string) =>
  `const char *builder_plugin_manifest(void) { return "{\\"name\\":\\"${name}\\",\\"version\\":\\"1\\",\\"functions\\":{\\"Value\\":\\"int Value(void)\\"}}"; }\n`;

const PLUGINS: Record<string, { source: string; libs?: string[] }> = {
  greet: { source: 'int Value(void) { return 1; }\n' },
  // Linked against the host's ICU: libicuuc.so.72 on bookworm, .76 on trixie — the locked bytes cannot load there, a rebuild can.
  icu: { source: '#include <unicode/utypes.h>\nint Value(void) { return u_errorName(U_ZERO_ERROR)[0]; }\n', libs: ['-licuuc'] },
  // Refuses every C library but bookworm's: no rebuild makes it load on trixie. (abort() in PID 1 — the loading program in its container, as a host often is — ends in SIGSEGV: PID 1 ignores the SIGABRT it raises.)
  pinned: {
    source: '#include <gnu/libc-version.h>\n#include <stdlib.h>\n#include <string.h>\n__attribute__((constructor)) static void pin(void) { if (strcmp(gnu_get_libc_version(), "2.36") != 0) abort(); }\nint Value(void) { return 2; }\n',
  },
};

describe.skipIf(skipDocker)('builder rehearse: a host upgrade tried before it is made (real engine, real loads)', () => {
  const dirs: string[] = [];
  beforeAll(requireDocker);
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('the example against the trixie host: every plugin survives as locked (proven), nothing rebuilt, exit 0', async () => {
    const dir = await copyProject('examples/hello');
    dirs.push(dir);
    expect((await cli(dir, ['build'])).code).toBe(0);
    const run = await cli(dir, ['rehearse', '--image', HOST_TRIXIE, '--json']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as RehearsalReport;
    expect(report.outcome).toBe('survives');
    expect(report.environment.map((d) => d.field).sort()).toEqual(['libc.version', 'os.versionId']);
    expect(report.plugins.map((p) => [p.name, p.verdict, p.asLocked.answer, p.asLocked.outcome])).toEqual([
      ['greet', 'survives', 'proven', 'loads'],
      ['shout', 'survives', 'proven', 'loads'],
    ]);
    expect(report.lockOut).toBeUndefined();
    const markdown = await cli(dir, ['rehearse', '--image', HOST_TRIXIE, '--markdown']);
    expect(markdown.code).toBe(0);
    expect(markdown.stdout).toContain('### Host upgrade rehearsal: `plugin-builder/example-host:trixie`');
    expect(markdown.stdout).toContain('| greet | loads (real load) | — | survives as locked |  |');
  }, 600_000);

  it('a candidate of another platform than the lockfile section (what a multi-platform tag resolves to on this engine) is refused before any rebuild: exit 2, nothing written', async () => {
    const dir = await copyProject('examples/hello');
    dirs.push(dir);
    expect((await cli(dir, ['build'])).code).toBe(0);
    const run = await cli(dir, ['rehearse', '--image', HOST_ARM64, '--json']);
    expect(run.code, run.stdout + run.stderr).toBe(2);
    const error = JSON.parse(run.stdout).error as { code: string; message: string; fix: string };
    expect(error.code).toBe('PLATFORM_MISMATCH');
    expect(error.message).toContain(`the candidate ${HOST_ARM64} is linux/arm64 by its C library, but the lockfile section rehearsed is for linux/amd64`);
    expect(error.fix).toContain('docker pull --platform linux/amd64');
    expect(await readdir(join(dir, 'dist/plugins'))).not.toContain('rehearsal');
  }, 600_000);

  it("examples/ci/rehearse-host-image.yml, run locally: its builder commands in the example against a candidate write the markdown the comment step posts", async () => {
    const recipe = await readFile(join(REPO, 'examples/ci/rehearse-host-image.yml'), 'utf8');
    const commands = [...recipe.matchAll(/^\s*(?:-\s+run:\s+)?npx builder (.+?)(?: > (\S+))?$/gm)].map((m) => ({ args: m[1]!, out: m[2] }));
    expect(commands.map((c) => c.args)).toEqual(['build', 'rehearse --image "$CANDIDATE" --markdown']);
    expect(recipe).toContain('--body-file rehearsal.md');
    expect(recipe).toMatch(/test "\$\{\{ steps\.rehearse\.outputs\.status \}\}" != 4/);
    const dir = await copyProject('examples/hello');
    dirs.push(dir);
    for (const command of commands) {
      const argv = [...command.args.replace(/"\$CANDIDATE"/g, HOST_TRIXIE).matchAll(/\S+/g)].map((m) => m[0]);
      const run = await cli(dir, argv);
      expect(run.code, run.stderr).toBe(0);
      if (command.out) await writeFile(join(dir, command.out), run.stdout);
    }
    expect(await readFile(join(dir, 'rehearsal.md'), 'utf8')).toContain('**every plugin loads in the candidate as locked.**');
  }, 600_000);

  it('survives, needs the rebuild (done and proven into a side lockfile), cannot be made to load: exit 4, and the markdown says which', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pb-rehearse-'));
    dirs.push(dir);
    for (const [name, p] of Object.entries(PLUGINS)) {
      await mkdir(join(dir, 'plugins', name), { recursive: true });
      await writeFile(join(dir, 'plugins', name, `${name}.c`), manifest(name) + p.source);
    }
    await writeFile(join(dir, 'builder.config.json'), JSON.stringify({
      host: { image: HOST_BOOKWORM },
      builder: { packages: ['libicu-dev'] },
      plugins: Object.entries(PLUGINS).map(([name, p]) => ({ name, kind: 'c', path: `plugins/${name}`, ...(p.libs ? { libs: p.libs } : {}) })),
    }));
    const built = await cli(dir, ['build']);
    expect(built.code, built.stdout + built.stderr).toBe(0);
    const lockBefore = await readFile(join(dir, 'builder.lock.json'), 'utf8');

    const run = await cli(dir, ['rehearse', '--image', HOST_TRIXIE, '--json']);
    expect(run.code, run.stderr).toBe(4);
    const report = JSON.parse(run.stdout) as RehearsalReport;
    expect(report.outcome).toBe('broken');
    const by = (name: string) => report.plugins.find((p) => p.name === name)!;
    expect(by('greet')).toMatchObject({ verdict: 'survives', asLocked: { answer: 'proven', outcome: 'loads' } });
    expect(by('icu')).toMatchObject({ verdict: 'rebuilt', asLocked: { answer: 'proven', outcome: 'fails', message: expect.stringContaining('libicuuc.so.72') }, rebuilt: { status: 'built' } });
    expect(by('pinned')).toMatchObject({ verdict: 'broken', asLocked: { answer: 'proven', outcome: 'crashes', message: expect.stringMatching(/the loading process was killed by signal \d+/), modelDisagrees: true }, rebuilt: { status: "failed", message: expect.stringMatching(/does not load in the host image plugin-builder\/example-host:trixie: the loading process was killed by signal \d+/) } });

    // The side lockfile holds the rebuilt plugin only, for the candidate, proven there; the project's lockfile is untouched.
    expect(report.lockOut).toBe(join(dir, 'rehearsal/builder.lock.json'));
    const side = parseLockfile(await readFile(report.lockOut!, 'utf8'));
    const trixie = await engine.inspectImage(HOST_TRIXIE);
    expect(Object.keys(side.plugins)).toEqual(['icu']);
    expect(side.host.imageId).toBe(trixie!.id);
    expect(side.plugins.icu!.proof).toMatchObject({ result: 'loaded', imageId: trixie!.id });
    expect((await readdir(join(dir, 'rehearsal'))).sort()).toEqual(['builder.lock.json', 'libicu.so']);
    expect(await readFile(join(dir, 'builder.lock.json'), 'utf8')).toBe(lockBefore);

    const markdown = await cli(dir, ['rehearse', '--image', HOST_TRIXIE, '--markdown']);
    expect(markdown.code).toBe(4);
    expect(markdown.stdout).toContain('**some plugins cannot be made to load in the candidate.**');
    expect(markdown.stdout).toMatch(/\| icu \| fails \(real load\) \| built and proven \([0-9a-f]{12}…\) \| needs the rebuild \(done, proven\) \|/);
    expect(markdown.stdout).toMatch(/\| pinned \| crashes the process \(real load\), MODEL_DISAGREES \| failed \| CANNOT be made to load \| .*killed by signal \d+/);
  }, 900_000);
});
