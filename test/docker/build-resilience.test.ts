import { execFileSync, spawn } from 'node:child_process';
import { sentinelLockfile } from '../helpers/sample-locks.js';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUN_LABEL } from '../../src/building/leftovers.js';
import { MANAGED_LABEL } from '../../src/docker/engine.js';
import { sha256FileHex } from '../../src/util/sha256.js';
import { startCli } from '../helpers/cli-process.js';
import { BASE_BOOKWORM, engine, requireDocker, skipDocker } from '../helpers/docker.js';
import { EngineProxy } from '../helpers/engine-proxy.js';
import { cli, REPO } from '../helpers/project.js';

const PLUGIN_LABEL = 'io.plugin-builder.plugin';

/** A C plugin whose compile takes about `functions` / 1000 seconds at -O2 on these machines. */
function slowSource(name: string, functions: number): string {
  const lines = [`const char *builder_plugin_manifest(void) { return "{\\"name\\":\\"${name}\\",\\"version\\":\\"1\\",\\"functions\\":{}}"; }`];
  for (let i = 0; i < functions; i++) lines.push(`int ${name}_f${i}(int x) { return x * ${i % 97} + ${i}; }`);
  return lines.join('\n') + '\n';
}

interface Plugin {
  name: string;
  functions?: number;
  cflags?: string[];
  /** Extra source text (a large array makes a large artifact). */
  extra?: string;
}

/** A project of C plugins with unique names (so their containers can be counted by label). */
async function project(plugins: Plugin[], layout: { outDir?: string; lockfile?: string } = {}): Promise<{ dir: string; names: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'pb-resilience-'));
  for (const p of plugins) {
    await mkdir(join(dir, 'plugins', p.name), { recursive: true });
    await writeFile(join(dir, 'plugins', p.name, `${p.name}.c`), slowSource(p.name, p.functions ?? 1) + (p.extra ?? ''));
  }
  const config = {
    host: { image: BASE_BOOKWORM },
    plugins: plugins.map((p) => ({ name: p.name, kind: 'c', path: `plugins/${p.name}`, cflags: p.cflags ?? ['-O2'] })),
    outDir: layout.outDir ?? 'dist/plugins',
    lockfile: layout.lockfile ?? 'builder.lock.json',
  };
  await writeFile(join(dir, 'builder.config.json'), JSON.stringify(config, null, 2));
  return { dir, names: plugins.map((p) => p.name) };
}

const unique = (prefix: string) => `${prefix}${randomBytes(3).toString('hex')}`;

async function containersOf(names: readonly string[]): Promise<Array<{ id: string; state: string }>> {
  const all = await Promise.all(names.map((name) => engine.listContainers({ [MANAGED_LABEL]: 'true', [PLUGIN_LABEL]: name })));
  return all.flat();
}

/** The run ID a build prints first, and the containers carrying it. */
function runIdOf(stderr: string): string {
  const id = /• run ([0-9a-f]{16}) on /.exec(stderr)?.[1];
  if (!id) throw new Error(`no run ID in:\n${stderr}`);
  return id;
}
const containersOfRun = (runId: string) => engine.listContainers({ [RUN_LABEL]: runId });

async function waitForRunning(names: readonly string[], count: number, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await containersOf(names)).filter((c) => c.state === 'running').length >= count) return;
    await sleep(200);
  }
  throw new Error(`${count} build containers never ran`);
}

/** Every file under `dir` (recursive, dot-files included), for "nothing left behind" checks. */
async function tree(dir: string): Promise<string[]> {
  return ((await readdir(dir, { recursive: true }).catch(() => [])) as string[]).sort();
}

/** The bytes of every file that matters after a build: the lockfile and every artifact. */
async function snapshot(dir: string, files: string[]): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of files) out[f] = await sha256FileHex(join(dir, f)).catch(() => 'absent');
  return out;
}

/** The lockfile describes exactly the artifacts on disk: a consistent new (or old) set, never a mix. */
async function expectConsistent(dir: string, lockfile: string, outDir: string): Promise<void> {
  const lock = JSON.parse(await readFile(join(dir, lockfile), 'utf8')) as { plugins: Record<string, { file: string; sha256: string }> };
  for (const entry of Object.values(lock.plugins)) expect(await sha256FileHex(join(dir, outDir, entry.file))).toBe(entry.sha256);
}

const mounts: string[] = [];
function mountTmpfs(dir: string, size: string): void {
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  mounts.push(dir);
}

describe.skipIf(skipDocker)('builds that never leave a mess (real engine)', () => {
  beforeAll(async () => {
    await requireDocker();
    // The builder image for plain C plugins on the bookworm host, once, before any timing matters.
    const { dir } = await project([{ name: unique('warm') }]);
    const run = await cli(dir, ['build']);
    expect(run.code, run.stderr).toBe(0);
  });

  afterAll(() => {
    for (const dir of mounts.reverse()) execFileSync('umount', ['-l', dir]);
  });

  describe('transactional outputs', () => {
    /** A built project, then its sources changed so that the next build makes 2 MB artifacts. */
    async function builtThenGrown(layout: { outDir?: string; lockfile?: string } = {}) {
      const plugins = [{ name: unique('ta') }, { name: unique('tb') }];
      const p = await project(plugins, layout);
      expect((await cli(p.dir, ['build'])).code).toBe(0);
      for (const plugin of plugins) {
        await writeFile(join(p.dir, 'plugins', plugin.name, 'pad.c'), `const char pad_${plugin.name}[2000000] = { 1 };\n`);
      }
      const outDir = layout.outDir ?? 'dist/plugins';
      const lockfile = layout.lockfile ?? 'builder.lock.json';
      const files = [lockfile, ...plugins.map((pl) => `${outDir}/lib${pl.name}.so`)];
      return { ...p, outDir, lockfile, files, before: await snapshot(p.dir, files) };
    }

    /** Mount a tmpfs at `rel` (inside the project) holding what was there. */
    async function onTmpfs(dir: string, rel: string, size: string): Promise<void> {
      const path = join(dir, rel);
      const keep = join(dir, `.keep-${randomBytes(3).toString('hex')}`);
      execFileSync('cp', ['-a', path, keep]);
      mountTmpfs(path, size);
      execFileSync('sh', ['-c', `cp -a "${keep}"/. "${path}"/ && rm -rf "${keep}"`]);
    }

    it('ENOSPC under outDir: nothing changes, the message names the file, no staging is left', async () => {
      const p = await builtThenGrown();
      await onTmpfs(p.dir, p.outDir, '1m');
      const run = await cli(p.dir, ['build']);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(/Cannot write \/.*\/\.builder-staging-[^/]+\/ta[0-9a-f]+\/libta[0-9a-f]+\.so: ENOSPC/);
      expect(run.stderr).toContain('Free space on the filesystem holding');
      expect(await snapshot(p.dir, p.files)).toEqual(p.before);
      expect((await tree(join(p.dir, p.outDir))).filter((f) => f.includes('.builder-staging-'))).toEqual([]);
    });

    it("ENOSPC where only the lockfile lives: fails before any artifact moves, naming the lockfile", async () => {
      const p = await builtThenGrown({ lockfile: 'locks/builder.lock.json' });
      // Two pages: the old lockfile and the build lock; the new lockfile's temp finds no room.
      await onTmpfs(p.dir, 'locks', '8k');
      const run = await cli(p.dir, ['build']);
      expect(run.code).toBe(2);
      expect(run.stderr).toContain(`Cannot write (through ${join(p.dir, 'locks', '.builder.lock.json.')}`);
      expect(run.stderr).toMatch(/locks\/builder\.lock\.json: ENOSPC \(no space left on device\)/);
      expect(await snapshot(p.dir, p.files)).toEqual(p.before);
      await expectConsistent(p.dir, p.lockfile, p.outDir);
      expect(await tree(join(p.dir, 'locks'))).toEqual(['builder.lock.json']);
      expect((await tree(join(p.dir, p.outDir))).filter((f) => f.startsWith('.'))).toEqual([]);
    });

    it('ENOSPC on one filesystem holding both outDir and the lockfile', async () => {
      const p = await builtThenGrown({ outDir: 'out/plugins', lockfile: 'out/builder.lock.json' });
      await onTmpfs(p.dir, 'out', '1m');
      const run = await cli(p.dir, ['build']);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('ENOSPC');
      expect(await snapshot(p.dir, p.files)).toEqual(p.before);
      expect((await tree(join(p.dir, 'out'))).filter((f) => f.includes('.builder-') || f.endsWith('.tmp'))).toEqual([]);
    });

    it('a read-only outDir: refused before building, naming the path and EROFS', async () => {
      const p = await builtThenGrown({ outDir: 'out', lockfile: 'out/builder.lock.json' });
      await onTmpfs(p.dir, 'out', '16m');
      execFileSync('mount', ['-o', 'remount,ro', join(p.dir, 'out')]);
      const counted = await containersOf(p.names);
      const run = await cli(p.dir, ['build']);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(new RegExp(`Cannot create the build lock ${join(p.dir, 'out')}/\\S+: EROFS`));
      expect(run.stderr).toContain('read-only filesystem');
      expect(await snapshot(p.dir, p.files)).toEqual(p.before);
      expect(await containersOf(p.names)).toEqual(counted);
    });

    it('missing destination directories are created first; the build lands whole', async () => {
      const p = await project([{ name: unique('tm') }], { outDir: 'out/deep/plugins', lockfile: 'locks/deeper/builder.lock.json' });
      const run = await cli(p.dir, ['build']);
      expect(run.code, run.stderr).toBe(0);
      await expectConsistent(p.dir, 'locks/deeper/builder.lock.json', 'out/deep/plugins');
      expect(await tree(join(p.dir, 'locks'))).toEqual(['deeper', 'deeper/builder.lock.json']);
    });
  });

  describe('cancellation', () => {
    it.each([
      ['SIGINT', 130],
      ['SIGTERM', 143],
      ['SIGHUP', 129],
    ] as const)('%s during a -j2 build: containers of the run removed, staging removed, outputs untouched, exit %i', async (signal, code) => {
      const p = await project([{ name: unique('sa'), functions: 40_000 }, { name: unique('sb'), functions: 40_000 }]);
      const sentinel = sentinelLockfile();
      await writeFile(join(p.dir, 'builder.lock.json'), sentinel);
      const proc = startCli(p.dir, ['build', '-j2']);
      await waitForRunning(p.names, 2);
      const runId = runIdOf(proc.stderr());
      expect((await containersOfRun(runId)).length).toBe(2);
      proc.child.kill(signal);
      const { code: exitCode } = await proc.exited;
      expect(exitCode, proc.stderr()).toBe(code);
      expect(await containersOfRun(runId)).toEqual([]);
      expect(proc.stderr()).toContain(`${signal}: stopping`);
      expect(proc.stderr()).toContain('error: Stopped');
      expect(await containersOf(p.names)).toEqual([]);
      expect(await readFile(join(p.dir, 'builder.lock.json'), 'utf8')).toBe(sentinel);
      expect(await tree(join(p.dir, 'dist'))).toEqual(['plugins']);
    });

    it('a second Ctrl-C exits at once (here while cleanup waits on a frozen engine); the next build removes what it left', async () => {
      const proxy = await EngineProxy.start();
      try {
        const p = await project([{ name: unique('da'), functions: 40_000 }, { name: unique('db'), functions: 40_000 }]);
        const twice = startCli(p.dir, ['build', '-j2'], { DOCKER_HOST: proxy.url });
        await waitForRunning(p.names, 2);
        proxy.freeze();
        twice.child.kill('SIGINT');
        await sleep(500);
        expect(twice.child.exitCode).toBeNull();
        const secondAt = Date.now();
        twice.child.kill('SIGINT');
        const { code, at } = await twice.exited;
        expect(code).toBe(130);
        expect(at - secondAt).toBeLessThan(2_000);
        expect(twice.stderr()).toContain('SIGINT again: exiting now');
        expect((await containersOf(p.names)).length).toBe(2);
        // Any build on this host sweeps what dead runs left (here: a quick other project).
        const other = await project([{ name: unique('sweep') }]);
        const run = await cli(other.dir, ['build']);
        expect(run.code, run.stderr).toBe(0);
        expect(run.stderr).toMatch(/removed 2 container\(s\) left by an interrupted earlier run/);
        expect(await containersOf(p.names)).toEqual([]);
      } finally {
        proxy.close();
      }
    });

    it('a SIGKILLed run leaves containers and staging: the next build removes them', async () => {
      const p = await project([{ name: unique('ka'), functions: 40_000 }, { name: unique('kb'), functions: 40_000 }]);
      const killed = startCli(p.dir, ['build', '-j2']);
      await waitForRunning(p.names, 2);
      killed.child.kill('SIGKILL');
      await killed.exited;
      expect((await containersOf(p.names)).length).toBe(2);
      // The killed run's staging goes with the next build of its own project (which holds the lock);
      // quick sources this time.
      expect((await tree(join(p.dir, 'dist/plugins'))).some((f) => f.startsWith('.builder-staging-'))).toBe(true);
      for (const name of p.names) await writeFile(join(p.dir, 'plugins', name, `${name}.c`), slowSource(name, 1));
      const next = await cli(p.dir, ['build', '-j2']);
      expect(next.code, next.stderr).toBe(0);
      expect((await tree(join(p.dir, 'dist/plugins'))).filter((f) => f.startsWith('.'))).toEqual([]);
    });

    it('a closed output (builder build 2>&1 | head) stops the build like a signal: exit 141, nothing left', async () => {
      const p = await project([{ name: unique('pa'), functions: 40_000 }, { name: unique('pb'), functions: 40_000 }]);
      const script = `set -o pipefail; node ${join(REPO, 'dist/builder.js')} build -j2 2>&1 | { head -c 1 >/dev/null; sleep 3; }; echo "exit=\${PIPESTATUS[0]}"`;
      const shell = spawn('bash', ['-c', script], { cwd: p.dir, stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      shell.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const done = new Promise((resolve) => shell.on('exit', resolve));
      // The pipe closes 3 s after the first byte; the next progress line (every 10 s) meets it closed.
      await waitForRunning(p.names, 2);
      await done;
      expect(out.trim()).toBe('exit=141');
      expect(await containersOf(p.names)).toEqual([]);
      expect(await tree(join(p.dir, 'dist'))).toEqual(['plugins']);
    });
  });

  describe('engine faults (through a loopback proxy the test runs)', () => {
    it('engine lost mid-build: ENGINE_LOST naming the engine, exit 2, promptly; the next build removes the containers', async () => {
      const proxy = await EngineProxy.start();
      try {
        const p = await project([{ name: unique('la'), functions: 40_000 }, { name: unique('lb'), functions: 40_000 }]);
        const proc = startCli(p.dir, ['build', '-j2'], { DOCKER_HOST: proxy.url });
        await waitForRunning(p.names, 2);
        const runId = runIdOf(proc.stderr());
        const killedAt = Date.now();
        proxy.kill();
        const { code, at } = await proc.exited;
        expect(code, proc.stderr()).toBe(2);
        expect(proc.stderr()).toContain(`error: Lost the Docker engine at ${proxy.url} while`);
        expect(proc.stderr()).toContain('fix: Check that the engine');
        expect(at - killedAt).toBeLessThan(20_000);
        expect(await tree(join(p.dir, 'dist'))).toEqual(['plugins']);
        expect(await readdir(p.dir)).not.toContain('builder.lock.json');
        // The engine itself lives on; the containers could not be removed through the dead proxy.
        expect((await containersOfRun(runId)).length).toBe(2);
        const other = await project([{ name: unique('sweep') }]);
        expect((await cli(other.dir, ['build'])).code).toBe(0);
        expect(await containersOfRun(runId)).toEqual([]);
      } finally {
        proxy.close();
      }
    });

    it('an engine that never answers: refused after the ping limit, and the process is gone right after', async () => {
      const proxy = await EngineProxy.start();
      try {
        proxy.freeze();
        const p = await project([{ name: unique('na') }]);
        const started = Date.now();
        const proc = startCli(p.dir, ['build', '--engine-timeout', '2'], { DOCKER_HOST: proxy.url });
        const { code, at } = await proc.exited;
        expect(code).toBe(2);
        expect(proc.stderr()).toContain(`error: No Docker engine answers at ${proxy.url} (DOCKER_HOST): The Docker engine at ${proxy.url} did not answer within 2 s while pinging it.`);
        // 2 s of patience plus Node's start-up; before, the process lingered 20 s after its message.
        expect(at - started).toBeLessThan(6_000);
      } finally {
        proxy.close();
      }
    });

    it('engine frozen mid-build: detected by the liveness ping within --engine-timeout, exit 2, the process gone at once', async () => {
      const proxy = await EngineProxy.start();
      try {
        const p = await project([{ name: unique('fa'), functions: 40_000 }, { name: unique('fb'), functions: 40_000 }]);
        const proc = startCli(p.dir, ['build', '-j2', '--engine-timeout', '2'], { DOCKER_HOST: proxy.url });
        await waitForRunning(p.names, 2);
        const frozenAt = Date.now();
        proxy.freeze();
        const { code, at } = await proc.exited;
        expect(code, proc.stderr()).toBe(2);
        expect(proc.stderr()).toMatch(/Lost the Docker engine at tcp:\/\/127\.0\.0\.1:\d+ while waiting for a build container: it stopped answering/);
        expect(at - frozenAt).toBeLessThan(20_000);
        expect(await tree(join(p.dir, 'dist'))).toEqual(['plugins']);
        proxy.close();
        const other = await project([{ name: unique('sweep') }]);
        expect((await cli(other.dir, ['build'])).code).toBe(0);
        expect(await containersOf(p.names)).toEqual([]);
      } finally {
        proxy.close();
      }
    });
  });

  it("one plugin's error fails that plugin; the other is awaited, and nothing runs after the command returns", async () => {
    const slow = unique('ia');
    const broken = unique('ib');
    const p = await project([{ name: slow, functions: 4_000 }, { name: broken }]);
    await symlink('/etc/hostname', join(p.dir, 'plugins', broken, 'linked.c'));
    const run = await cli(p.dir, ['build', '-j2', '--no-cache', '--json']);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as { outcome: string; plugins: Array<{ name: string; status: string; reason?: string }> };
    expect(report.outcome).toBe('failed');
    expect(report.plugins.find((x) => x.name === broken)).toMatchObject({ status: 'failed', reason: expect.stringContaining('is a symbolic link') });
    expect(report.plugins.find((x) => x.name === slow)?.status).toBe('built');
    expect(await containersOf(p.names)).toEqual([]);
    expect(await tree(join(p.dir, 'dist'))).toEqual(['plugins']);
  });

  it('compiler output is kept to its last 64 KiB, saying how much was cut', async () => {
    const name = unique('noisy');
    // 40,000 warnings, then an error (without carets gcc prints them in well under a second).
    const noise = Array.from({ length: 40_000 }, (_, i) => `#warning noisy line ${i} ${'x'.repeat(60)}`).join('\n');
    const p = await project([{ name, cflags: ['-O2', '-fno-diagnostics-show-caret'], extra: `${noise}\nint broken = undeclared_at_end;\n` }]);
    const run = await cli(p.dir, ['build', '--json']);
    expect(run.code).toBe(1);
    const plugin = (JSON.parse(run.stdout) as { plugins: Array<{ output: string; outputBytes: number }> }).plugins[0]!;
    expect(plugin.outputBytes).toBeGreaterThan(4_000_000);
    expect(Buffer.byteLength(plugin.output)).toBeLessThanOrEqual(64 * 1024);
    expect(plugin.output).toContain('undeclared_at_end');
    const text = await cli(p.dir, ['build']);
    expect(text.stderr).toMatch(/\(\d+ earlier lines; [\d.]+ MiB of output before that not kept\)/);
  });

  it('two builds of one project: the second waits for the first (saying so), or fails at once with --no-wait', async () => {
    const p = await project([{ name: unique('ca'), functions: 8_000 }]);
    const first = startCli(p.dir, ['build']);
    await waitForRunning(p.names, 1);
    const refused = await cli(p.dir, ['build', '--no-wait']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`Another builder build is running in this project: pid ${first.child.pid}`);
    const second = startCli(p.dir, ['build']);
    const [a, b] = await Promise.all([first.exited, second.exited]);
    expect(a.code, first.stderr()).toBe(0);
    expect(b.code, second.stderr()).toBe(0);
    expect(second.stderr()).toContain(`waiting for the build of pid ${first.child.pid}`);
    expect(second.stderr()).toMatch(/unchanged/);
    expect(b.at).toBeGreaterThanOrEqual(a.at);
    expect(await readdir(p.dir)).not.toContain('.builder.lock.json.build-lock');
  });

  it('a FIFO (or anything but a regular file) where a locked artifact was is rebuilt over, never read', async () => {
    const p = await project([{ name: unique('ff') }]);
    expect((await cli(p.dir, ['build'])).code).toBe(0);
    const artifact = join(p.dir, 'dist/plugins', `lib${p.names[0]}.so`);
    await rm(artifact);
    execFileSync('mkfifo', [artifact]);
    const run = await cli(p.dir, ['build']);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain('building');
    await expectConsistent(p.dir, 'builder.lock.json', 'dist/plugins');
  });

  it('containment: a plugin reached through a symlinked parent is refused before any container, naming the real path', async () => {
    const outside = await mkdtemp(join(tmpdir(), 'pb-outside-'));
    await mkdir(join(outside, 'od'));
    await writeFile(join(outside, 'od', 'od.c'), 'int secret = 42;\n');
    const p = await project([{ name: unique('cn') }]);
    const config = JSON.parse(await readFile(join(p.dir, 'builder.config.json'), 'utf8')) as { plugins: Array<{ path: string }> };
    config.plugins[0]!.path = 'plugins2/od';
    await writeFile(join(p.dir, 'builder.config.json'), JSON.stringify(config));
    await symlink(outside, join(p.dir, 'plugins2'));
    const run = await cli(p.dir, ['build']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`plugins[0].path: "plugins2/od" resolves to ${outside}/od, outside the project directory`);
    expect(await containersOf(p.names)).toEqual([]);
    await rm(outside, { recursive: true });
  });
});
