import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MANAGED_LABEL, ROLE_LABEL } from '../../src/docker/engine.js';
import { parseLockfile } from '../../src/lock/lockfile.js';
import { BASE_BOOKWORM, BASE_TRIXIE, engine, HOST_BOOKWORM, HOST_MUSL, HOST_NOZLIB, requireDocker, skipDocker } from '../helpers/docker.js';
import { NONCE_THIEF } from '../helpers/c-plugins.js';
import { sentinelLockfile } from '../helpers/sample-locks.js';
import { startCli } from '../helpers/cli-process.js';
import { EngineProxy } from '../helpers/engine-proxy.js';
import { cli, copyProject } from '../helpers/project.js';

const manifest = (name: string) =>
  `const char *builder_plugin_manifest(void) { return "{\\"name\\":\\"${name}\\",\\"version\\":\\"1\\",\\"functions\\":{\\"Value\\":\\"int Value(void)\\"}}"; }\n`;

interface Plugin {
  name: string;
  source: string;
  libs?: string[];
}

/** A project of C plugins (each with the runtime's manifest) for `host`. */
async function project(host: string, plugins: Plugin[], extra: { builderBase?: string; loader?: string[] } = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pb-proof-'));
  for (const p of plugins) {
    await mkdir(join(dir, 'plugins', p.name), { recursive: true });
    await writeFile(join(dir, 'plugins', p.name, `${p.name}.c`), manifest(p.name) + p.source);
  }
  const config = {
    host: { image: host, ...(extra.loader ? { loader: extra.loader } : {}) },
    ...(extra.builderBase ? { builder: { base: extra.builderBase } } : {}),
    plugins: plugins.map((p) => ({ name: p.name, kind: 'c', path: `plugins/${p.name}`, ...(p.libs ? { libs: p.libs } : {}) })),
  };
  await writeFile(join(dir, 'builder.config.json'), JSON.stringify(config));
  return dir;
}

const value = 'int Value(void) { return 1; }\n';
// cos() without -lm: it loads where the loading process already has libm (node does), not in a bare C program.
const cosine = '#include <math.h>\nvolatile double x = 0.5;\nint Value(void) { return (int)(cos(x) * 100); }\n';
// A symbol nothing defines: every loader refuses it, each in its own words.
const missing = 'extern int nowhere_to_be_found(void);\nint Value(void) { return nowhere_to_be_found(); }\n';
// A real fault (a null write), not raise(): the loading program is PID 1 of its container, which ignores a raised signal it has no handler for.
const segv = '__attribute__((constructor)) static void boom(void) { volatile int *volatile p = 0; *p = 1; }\n' + value;
// A constructor that writes what the loader's report looks like, a lot of it, without a newline at the end.
const forger = `#include <stdio.h>\n#include <string.h>\n__attribute__((constructor)) static void noise(void) {
  for (int i = 0; i < 20000; i++) printf("0123456789abcdef0123456789abcdef loaded /builder-proof/libmissing.so\\n%0400d", i);
  printf("deadbeefdeadbeefdeadbeefdeadbeef done");
  fflush(stdout);
}\n${value}`;
const hang = '#include <unistd.h>\n__attribute__((constructor)) static void wait_forever(void) { for (;;) pause(); }\n' + value;

async function proofContainers(): Promise<number> {
  return (await engine.listContainers({ [MANAGED_LABEL]: 'true', [ROLE_LABEL]: 'proof' })).length;
}

describe.skipIf(skipDocker)('every build proves its artifacts load in the host image (real engine, real loaders)', () => {
  const dirs: string[] = [];
  beforeAll(requireDocker);
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });
  const track = (dir: string) => (dirs.push(dir), dir);

  it('the example (Node host): proven by the image\'s own runtime, recorded per artifact; an unchanged set needs no container; --no-prove says so', async () => {
    const dir = track(await copyProject('examples/hello'));
    const first = await cli(dir, ['build']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/proving 2 artifact\(s\) load in plugin-builder\/example-host:bookworm .* by node \/app\/dist\/builder\.js canary/);
    const lock = parseLockfile(await readFile(join(dir, 'dist/plugins/builder.lock.json'), 'utf8'));
    for (const entry of Object.values(lock.plugins)) {
      expect(entry.proof).toEqual({ result: 'loaded', imageId: lock.host.imageId, program: expect.stringContaining('node /app/dist/builder.js canary') });
    }
    const again = await cli(dir, ['build']);
    expect(again.code).toBe(0);
    expect(again.stderr).not.toMatch(/proving/);
    expect(await proofContainers()).toBe(0);

    const check = await cli(dir, ['build', '--check']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
    expect(check.stderr).toMatch(/proving 2 artifact/);

    await writeFile(join(dir, 'plugins/greet/greet.c'), `${await readFile(join(dir, 'plugins/greet/greet.c'), 'utf8')}\n/* changed */\n`);
    const unproven = await cli(dir, ['build', '--no-prove']);
    expect(unproven.code).toBe(0);
    expect(unproven.stderr).not.toMatch(/proving/);
    const after = parseLockfile(await readFile(join(dir, 'dist/plugins/builder.lock.json'), 'utf8'));
    expect(after.plugins.greet!.proof).toEqual({ result: 'not-proven', reason: 'built with --no-prove' });
    // The next plain build proves what was not proven, without rebuilding it.
    const proven = await cli(dir, ['build']);
    expect(proven.code).toBe(0);
    expect(proven.stderr).toMatch(/proving 1 artifact/);
    expect(proven.stdout).toMatch(/greet\s+c\s+unchanged/);
    expect(parseLockfile(await readFile(join(dir, 'dist/plugins/builder.lock.json'), 'utf8')).plugins.greet!.proof?.result).toBe('loaded');
  }, 600_000);

  it('something only the host process provides (libm, through node): proven in the Node host; refused with the loader\'s words in a C host', async () => {
    const node = track(await project(HOST_BOOKWORM, [{ name: 'cosine', source: cosine }]));
    const ok = await cli(node, ['build']);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(parseLockfile(await readFile(join(node, 'builder.lock.json'), 'utf8')).plugins.cosine!.proof?.result).toBe('loaded');

    const c = track(await project(BASE_BOOKWORM, [{ name: 'cosine', source: cosine }]));
    const refused = await cli(c, ['build']);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/cosine\s+c\s+failed/);
    expect(refused.stdout).toMatch(/does not load in the host image plugin-builder\/debian:bookworm: .*libcosine\.so: undefined symbol: cos/);
    expect(await readdir(c)).not.toContain('builder.lock.json');
  }, 600_000);

  it('glibc, musl, the Node runtime and a host.loader command each refuse in their own words; nothing is written', async () => {
    const glibc = track(await project(BASE_BOOKWORM, [{ name: 'ok', source: value }, { name: 'missing', source: missing }]));
    const g = await cli(glibc, ['build', '--json']);
    expect(g.code).toBe(1);
    const gr = JSON.parse(g.stdout) as { plugins: Array<{ name: string; status: string; reason?: string }> };
    expect(gr.plugins.find((p) => p.name === 'ok')?.status).toBe('built');
    expect(gr.plugins.find((p) => p.name === 'missing')).toMatchObject({ status: 'failed', reason: expect.stringMatching(/undefined symbol: nowhere_to_be_found/) });
    expect(await readdir(glibc)).not.toContain('builder.lock.json');

    const musl = track(await project(HOST_MUSL, [{ name: 'ok', source: value }, { name: 'missing', source: missing }], { builderBase: BASE_TRIXIE }));
    const m = await cli(musl, ['build']);
    expect(m.code).toBe(1);
    // musl's loader: "Error relocating <file>: <symbol>: symbol not found".
    expect(m.stdout).toMatch(/missing\s+c\s+failed.*Error relocating \/builder-proof\/libmissing\.so: nowhere_to_be_found: symbol not found/);
    expect(m.stdout).toMatch(/ok\s+c\s+built/);

    // The Node runtime's own words (koffi's dlopen), in the Node host.
    const node = track(await project(HOST_BOOKWORM, [{ name: 'missing', source: missing }]));
    const n = await cli(node, ['build']);
    expect(n.code).toBe(1);
    expect(n.stdout).toMatch(/missing\s+c\s+failed.*LOAD_FAILED: Plugin "missing" \(libmissing\.so\) could not be loaded: Failed to load shared library: .*undefined symbol: nowhere_to_be_found/);

    const zlib = track(await project(HOST_NOZLIB, [{ name: 'zipped', source: '#include <zlib.h>\nint Value(void) { return (int)zlibVersion()[0]; }\n', libs: ['-lz'] }], { loader: ['/usr/local/bin/dlopen-check'] }));
    await writeFile(join(zlib, 'builder.config.json'), JSON.stringify({ ...JSON.parse(await readFile(join(zlib, 'builder.config.json'), 'utf8')), builder: { base: BASE_BOOKWORM, packages: ['zlib1g-dev'] } }));
    const z = await cli(zlib, ['build']);
    expect(z.code, z.stdout + z.stderr).toBe(1);
    expect(z.stderr).toMatch(/by host\.loader: \/usr\/local\/bin\/dlopen-check FILE/);
    expect(z.stdout).toMatch(/zipped\s+c\s+failed.*the loader exited with status 1: libz\.so\.1: cannot open shared object file/);
    expect(await proofContainers()).toBe(0);
  }, 900_000);

  it('a constructor that crashes fails its plugin with the signal; the others still get proven; forged report lines and a flood of output change nothing', async () => {
    const dir = track(await project(BASE_BOOKWORM, [{ name: 'asegv', source: segv }, { name: 'forger', source: forger }, { name: 'missing', source: missing }, { name: 'ok', source: value }]));
    const run = await cli(dir, ['build', '--json']);
    expect(run.code).toBe(1);
    const plugins = (JSON.parse(run.stdout) as { plugins: Array<{ name: string; status: string; reason?: string }> }).plugins;
    const by = (name: string) => plugins.find((p) => p.name === name);
    expect(by('asegv')).toMatchObject({ status: 'failed', reason: expect.stringMatching(/the loading process was killed by signal 11 \(exit status 139\) while loading it/) });
    // The model said it loads (no loader rule sees a constructor): the build says so, and why.
    expect(by('asegv')?.reason).toMatch(/MODEL_DISAGREES: the model \(builder verify\) predicted it loads; the real load wins \(the loader accepted it; its own code then failed/);
    expect(by('missing')?.reason).not.toMatch(/MODEL_DISAGREES/);
    // The forger loads (it only prints); the file it claims loaded does not.
    expect(by('forger')?.status).toBe('built');
    expect(by('missing')).toMatchObject({ status: 'failed', reason: expect.stringMatching(/undefined symbol: nowhere_to_be_found/) });
    expect(by('ok')?.status).toBe('built');
    expect(await proofContainers()).toBe(0);
  }, 600_000);

  it('a forged "loaded" record on an artifact that does not load: build keeps it as unchanged (the lockfile says what to skip), --check proves it and fails', async () => {
    const dir = track(await project(BASE_BOOKWORM, [{ name: 'missing', source: missing }]));
    expect((await cli(dir, ['build', '--no-prove'])).code).toBe(0);
    const path = join(dir, 'builder.lock.json');
    const lock = JSON.parse(await readFile(path, 'utf8')) as { host: { imageId: string }; plugins: Record<string, { proof: unknown }> };
    // Another loading program than this host's is not this host's proof: proven again, and refused.
    lock.plugins.missing!.proof = { imageId: lock.host.imageId, program: 'forged', result: 'loaded' };
    await writeFile(path, `${JSON.stringify(lock, null, 2)}\n`);
    const reproven = await cli(dir, ['build']);
    expect(reproven.code).toBe(1);
    expect(reproven.stderr).toMatch(/proving 1 artifact/);
    // The very record an honest proof would have written: trusted for what to skip, as an inputs hash is.
    lock.plugins.missing!.proof = { imageId: lock.host.imageId, program: 'load-prober: dlopen(FILE, RTLD_NOW | RTLD_LOCAL)', result: 'loaded' };
    await writeFile(path, `${JSON.stringify(lock, null, 2)}\n`);
    const skipped = await cli(dir, ['build']);
    expect(skipped.code).toBe(0);
    expect(skipped.stderr).not.toMatch(/proving/);
    const check = await cli(dir, ['build', '--check']);
    expect(check.code).toBe(1);
    expect(check.stdout).toMatch(/missing\s+c\s+failed.*undefined symbol: nowhere_to_be_found/);
  }, 600_000);

  it('a plugin that steals the nonce and reports everything loaded: the crash of the next one still fails it (a success counts only from a run that ended normally)', async () => {
    const dir = track(await project(BASE_BOOKWORM, [{ name: 'athief', source: NONCE_THIEF + value }, { name: 'victim', source: segv }]));
    const run = await cli(dir, ['build', '--json']);
    expect(run.code, run.stdout + run.stderr).toBe(1);
    const plugins = (JSON.parse(run.stdout) as { plugins: Array<{ name: string; status: string; reason?: string }> }).plugins;
    expect(plugins.find((p) => p.name === 'victim')).toMatchObject({ status: 'failed', reason: expect.stringMatching(/killed by signal 11/) });
    expect(plugins.find((p) => p.name === 'athief')?.status).toBe('built');
    expect(await readdir(dir)).not.toContain('builder.lock.json');
  }, 600_000);

  it('faults during the proof: SIGINT removes the proof container and writes nothing; a frozen engine is ENGINE_LOST and the next build cleans up', async () => {
    const dir = track(await project(BASE_BOOKWORM, [{ name: 'hang', source: hang }]));
    // A valid lockfile of another build: what the lost run must leave as it was.
    const sentinel = sentinelLockfile();
    const waitFor = async (what: () => Promise<boolean>, label: string) => {
      for (const deadline = Date.now() + 120_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) if (await what()) return;
      throw new Error(`never: ${label}`);
    };
    const proc = startCli(dir, ['build', '--prove-timeout', '600']);
    await waitFor(async () => proc.stderr().includes('proving 1 artifact'), 'the proof started');
    await waitFor(async () => (await proofContainers()) > 0, 'a proof container');
    proc.child.kill('SIGINT');
    const { code } = await proc.exited;
    expect(code, proc.stderr()).toBe(130);
    expect(await proofContainers()).toBe(0);
    expect(await readdir(dir)).not.toContain('builder.lock.json');

    await writeFile(join(dir, 'builder.lock.json'), sentinel);
    const proxy = await EngineProxy.start();
    try {
      const frozen = startCli(dir, ['build', '--prove-timeout', '600', '--engine-timeout', '3'], { DOCKER_HOST: proxy.url });
      await waitFor(async () => frozen.stderr().includes('proving 1 artifact'), 'the proof started');
      await waitFor(async () => (await proofContainers()) > 0, 'a proof container');
      proxy.freeze();
      const lost = await frozen.exited;
      expect(lost.code, frozen.stderr()).toBe(2);
      expect(frozen.stderr()).toMatch(/ENGINE_LOST|stopped answering/);
    } finally {
      proxy.close();
    }
    expect(await readFile(join(dir, 'builder.lock.json'), 'utf8')).toBe(sentinel);
    // The next build (on the real engine) removes what the lost one left, then proves and fails the hanging plugin as usual.
    const next = await cli(dir, ['build', '--prove-timeout', '3']);
    expect(next.code).toBe(1);
    expect(await proofContainers()).toBe(0);
  }, 600_000);

  it('a load that never ends is stopped at --prove-timeout and fails that plugin', async () => {
    const dir = track(await project(BASE_BOOKWORM, [{ name: 'hang', source: hang }, { name: 'ok', source: value }]));
    const started = Date.now();
    const run = await cli(dir, ['build', '--prove-timeout', '5', '--json']);
    expect(run.code).toBe(1);
    const plugins = (JSON.parse(run.stdout) as { plugins: Array<{ name: string; status: string; reason?: string }> }).plugins;
    expect(plugins.find((p) => p.name === 'hang')).toMatchObject({ status: 'failed', reason: expect.stringMatching(/did not finish loading within 5 s/) });
    expect(plugins.find((p) => p.name === 'ok')?.status).toBe('built');
    expect(Date.now() - started).toBeLessThan(120_000);
    expect(await proofContainers()).toBe(0);
  }, 600_000);
});
