import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { EnvironmentMismatchError } from '../../src/errors.js';
import { parseLockfile } from '../../src/lock/lockfile.js';
import type { VerifyReport } from '../../src/verify/verify-plugins.js';
import { BASE_BOOKWORM, BASE_TRIXIE, GO_HOST_BOOKWORM, GO_HOST_MUSL, GO_HOST_NOTRIM, GO_HOST_NOTRIM_ELSEWHERE, GO_HOST_SHARED11, GO_HOST_TRIXIE, requireDocker, skipDocker } from '../helpers/docker.js';
import { CountingEngine } from '../helpers/counting-engine.js';
import { runWithDir } from '../helpers/images.js';
import { cli, copyProject, editJson } from '../helpers/project.js';

/** A copy of the Go host example, optionally pointed at another host image / builder base. */
async function goProject(host = GO_HOST_BOOKWORM, builderBase?: string): Promise<string> {
  const dir = await copyProject('examples/go-host');
  await editJson(join(dir, 'builder.config.json'), (c) => {
    (c.host as { image: string }).image = host;
    if (builderBase) c.builder = { base: builderBase };
  });
  return dir;
}

const lockOf = async (dir: string) => parseLockfile(await readFile(join(dir, 'dist/plugins/builder.lock.json'), 'utf8'));

describe.skipIf(skipDocker)('go-plugin for Go hosts (real engine, real plugin.Open)', () => {
  let good: string;

  beforeAll(async () => {
    await requireDocker();
    good = await goProject();
    const run = await cli(good, ['build']);
    expect(run.code, run.stderr).toBe(0);
  });

  it('builds with the host binary\'s Go and modules, records them, and the Go host loads and calls it', async () => {
    const lock = await lockOf(good);
    expect(lock.host.binary).toBe('/app/gohost');
    expect(lock.host.fingerprint.go).toEqual({
      version: 'go1.19.8',
      settings: { '-trimpath': 'true', CGO_ENABLED: '1', GOAMD64: 'v1', GOARCH: 'amd64', GOOS: 'linux' },
      deps: { 'example.com/shared': 'v1.0.0 => ../shared', 'github.com/plugin-builder/pluginhost': 'v0.0.0 => ../../../go/pluginhost' },
    });
    expect(lock.plugins.hello).toMatchObject({
      kind: 'go-plugin',
      goVersion: 'go1.19.8',
      pluginPath: expect.stringMatching(/^plugin\/unnamed-[0-9a-f]{40}$/),
      deps: [{ path: 'example.com/shared', version: 'v1.0.0', replace: { path: '../../shared', version: '(devel)' } }],
    });
    const run = await runWithDir(GO_HOST_BOOKWORM, join(good, 'dist/plugins'), '/app/plugins', []);
    expect(run.output).toContain('loaded hello: greet("world") = "Hello, world (shared v1.0.0)"');
    expect(run.exitCode).toBe(0);
  });

  it('drift: a host binary rebuilt with another Go or another module version is breaking for its go-plugins', async () => {
    const modules = await cli(good, ['drift', '--image', GO_HOST_SHARED11, '--json']);
    expect(modules.code).toBe(1);
    const moduleReport = JSON.parse(modules.stdout) as { outcome: string; differences: Array<{ field: string; expected: string; actual: string }>; plugins: Array<{ name: string; stillLoads: boolean | null }> };
    expect(moduleReport.outcome).toBe('breaking');
    expect(moduleReport.differences).toEqual([{ field: 'go.deps.example.com/shared', expected: 'v1.0.0 => ../shared', actual: 'v1.1.0 => ../shared-v1.1' }]);
    expect(moduleReport.plugins).toMatchObject([{ name: 'hello', stillLoads: false }]);
    const go = await cli(good, ['drift', '--image', GO_HOST_TRIXIE]);
    expect(go.code).toBe(1);
    expect(go.stdout).toContain('go.version: go1.19.8 → go1.24.4');
    expect(go.stdout).toContain('plugin.Open would crash the host');
  });

  it('two builds of the same go-plugin are byte-identical', async () => {
    const again = await goProject();
    expect((await cli(again, ['build'])).code).toBe(0);
    expect((await lockOf(again)).plugins.hello?.sha256).toBe((await lockOf(good)).plugins.hello?.sha256);
  });

  it('a host built with another version of the shared module: refused, and forcing it really fails in the host', async () => {
    const dir = await goProject(GO_HOST_SHARED11);
    const refused = await cli(dir, ['build']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('hello: example.com/shared: host /app/gohost has v1.1.0, the plugin requires v1.0.0');
    expect(refused.stderr).toContain('go mod edit -require=example.com/shared@v1.1.0');

    // Past the check, the build's proof loads it for real in the host image: the Go runtime's own refusal.
    const proven = await cli(dir, ['build', '--skip-go-module-check']);
    expect(proven.code).toBe(1);
    expect(proven.stdout).toMatch(/hello\s+go-plugin\s+failed.*plugin was built with a different version of package example\.com\/shared/);
    const forced = await cli(dir, ['build', '--skip-go-module-check', '--no-prove']);
    expect(forced.code, forced.stderr).toBe(0);
    expect((await lockOf(dir)).plugins.hello).toMatchObject({ goModuleCheck: 'skipped', proof: { result: 'not-proven', reason: 'built with --no-prove' } });
    // A later plain build does not keep it as unchanged: its inputs included the skipped check.
    const plain = await cli(dir, ['build']);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain('hello: example.com/shared: host /app/gohost has v1.1.0, the plugin requires v1.0.0');
    const verify = await cli(dir, ['verify', '--json']);
    const verdict = (JSON.parse(verify.stdout) as VerifyReport).plugins[0];
    expect(verdict?.loadable).toBe(false);
    expect(verdict?.problems.map((p) => p.check)).toContain('go-module');

    const checked = await runWithDir(GO_HOST_SHARED11, join(dir, 'dist/plugins'), '/app/plugins', []);
    expect(checked.output).toContain('rejected hello (GO_MODULE_MISMATCH): Plugin "hello" links other module versions than this host: example.com/shared: plugin has v1.0.0, host has v1.1.0.');
    expect(checked.exitCode).toBe(1);
    const unchecked = await runWithDir(GO_HOST_SHARED11, join(dir, 'dist/plugins'), '/app/plugins', ['-no-verify']);
    expect(unchecked.output).toContain('plugin was built with a different version of package example.com/shared');
    expect(unchecked.exitCode).toBe(1);
  });

  it('hosts built without -trimpath: the shared module is compiled from the host\'s directory and the plugin loads; a plugin compiled elsewhere is predicted to fail and really fails', async () => {
    // Built from /work/app: the shared package's identity includes /work/app/shared. builder reads
    // that from the binary's file table and compiles the plugin's copy of the module there.
    const dir = await goProject(GO_HOST_NOTRIM_ELSEWHERE);
    const built = await cli(dir, ['build']);
    expect(built.code, built.stderr).toBe(0);
    expect(built.stdout + built.stderr).toContain('hello: /app/gohost was built without -trimpath: compiling example.com/shared from /work/app/shared, as the host did');
    expect((await lockOf(dir)).host.fingerprint.go?.settings['-tags']).toBe('extra');
    const verdict = (JSON.parse((await cli(dir, ['verify', '--json'])).stdout) as VerifyReport).plugins[0];
    expect(verdict?.outcome, JSON.stringify(verdict)).toBe('loads');
    const real = await runWithDir(GO_HOST_NOTRIM_ELSEWHERE, join(dir, 'dist/plugins'), '/app/plugins', []);
    expect(real.output).toContain('loaded hello: greet("world") = "Hello, world (shared v1.0.0)"');

    // Built for the same host compiled from /src (where builder keeps sources: nothing to move):
    // loads there; for the /work/app host verify compares the link-time package hashes
    // plugin.Open compares, predicts the failure, and it really fails.
    const other = await goProject(GO_HOST_NOTRIM);
    const otherBuilt = await cli(other, ['build']);
    expect(otherBuilt.code, otherBuilt.stderr).toBe(0);
    expect(otherBuilt.stdout + otherBuilt.stderr).not.toContain('compiling example.com/shared from');
    const loads = await runWithDir(GO_HOST_NOTRIM, join(other, 'dist/plugins'), '/app/plugins', []);
    expect(loads.output).toContain('loaded hello: greet("world")');
    const predicted = (JSON.parse((await cli(other, ['verify', '--image', GO_HOST_NOTRIM_ELSEWHERE, '--dir', join(other, 'dist/plugins'), '--json'])).stdout) as VerifyReport).plugins[0];
    expect(predicted?.outcome).toBe('fails');
    const problem = predicted?.problems.find((p) => p.check === 'go-package');
    expect(problem?.message).toMatch(/^package example\.com\/shared differs between the plugin and \/app\/gohost \(link-time hash [0-9a-f]{16} vs [0-9a-f]{16}\): plugin\.Open would fail/);
    expect(problem?.message).toContain('was built without -trimpath');
    // (pluginhost's environment check sees the other -tags first; overridden, plugin.Open has the last word.)
    const fails = await runWithDir(GO_HOST_NOTRIM_ELSEWHERE, join(other, 'dist/plugins'), '/app/plugins', ['-allow-environment-mismatch']);
    expect(fails.output).toMatch(/rejected hello \(LOAD_FAILED\): .*plugin was built with a different version of package example\.com\/shared/);
  });

  it('Go 1.24 (trixie) for the Go 1.19 host: refused before building; verify flags such a plugin; loading it crashes the host', async () => {
    const mismatched = await goProject(GO_HOST_BOOKWORM, BASE_TRIXIE);
    const { loadConfig } = await import('../../src/config/load-config.js');
    const { buildProject } = await import('../../src/building/build-project.js');
    const { packageRoot } = await import('../../src/package-root.js');
    const { engine } = await import('../helpers/docker.js');
    const steps: string[] = [];
    const counting = new CountingEngine(engine);
    const error = await buildProject(await loadConfig(join(mismatched, 'builder.config.json')), { check: false }, {
      engine: counting,
      recipeDir: packageRoot(),
      report: (e) => e.type === 'step' && steps.push(e.message),
    }).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(EnvironmentMismatchError);
    expect((error as EnvironmentMismatchError).fix).toContain('exactly go1.19.8');
    expect(counting.imagesBuilt).toBe(0);
    expect(steps.some((s) => s.startsWith('builder image'))).toBe(false);

    // A plugin really built with Go 1.24: for the trixie Go host.
    const newer = await goProject(GO_HOST_TRIXIE);
    const built = await cli(newer, ['build']);
    expect(built.code, built.stderr).toBe(0);
    expect((await lockOf(newer)).plugins.hello?.goVersion).toBe('go1.24.4');
    const verify = await cli(newer, ['verify', '--image', GO_HOST_BOOKWORM, '--dir', join(newer, 'dist/plugins'), '--json']);
    expect(verify.code).toBe(1);
    const verdict = (JSON.parse(verify.stdout) as VerifyReport).plugins[0];
    expect(verdict?.loadable).toBe(false);
    expect(verdict?.problems.find((p) => p.check === 'go-version')?.message).toContain('built with go1.24.4, the host binary /app/gohost with go1.19.8');

    // pluginhost refuses it: the environment the lockfile names is not this one (the Go release among the differences).
    const checked = await runWithDir(GO_HOST_BOOKWORM, join(newer, 'dist/plugins'), '/app/plugins', []);
    expect(checked.output).toContain('rejected hello (ENVIRONMENT_MISMATCH)');
    expect(checked.output).toContain('go.version: go1.24.4 → go1.19.8');
    // Even with the environment check overridden, the Go release check stands between it and plugin.Open.
    const overridden = await runWithDir(GO_HOST_BOOKWORM, join(newer, 'dist/plugins'), '/app/plugins', ['-allow-environment-mismatch']);
    expect(overridden.output).toContain('rejected hello (GO_VERSION_MISMATCH): Plugin "hello" was built with go1.24.4; this host runs go1.19.8, and plugin.Open would crash the process.');
    const crash = await runWithDir(GO_HOST_BOOKWORM, join(newer, 'dist/plugins'), '/app/plugins', ['-no-verify']);
    expect(crash.output).toContain('fatal error: runtime: no plugin module data');
    expect(crash.exitCode).not.toBe(0);
  });

  it('a musl Go host (Go 1.19 through musl-gcc, musl-only image) with builder.base Debian bookworm: built with musl-gcc, it loads and answers; a glibc-built plugin: verify predicts what really happens', async () => {
    const dir = await goProject(GO_HOST_MUSL, BASE_BOOKWORM);
    const built = await cli(dir, ['build']);
    expect(built.code, built.stderr).toBe(0);
    const lock = await lockOf(dir);
    expect(lock.host.fingerprint.libc.family).toBe('musl');
    expect(lock.host.fingerprint.go?.version).toBe('go1.19.8');
    expect(lock.builder.toolchain.go).toBe('go1.19.8');
    expect(lock.plugins.hello?.goVersion).toBe('go1.19.8');
    const verify = await cli(dir, ['verify', '--json']);
    expect((JSON.parse(verify.stdout) as VerifyReport).plugins[0]?.outcome, verify.stdout).toBe('loads');
    const run = await runWithDir(GO_HOST_MUSL, join(dir, 'dist/plugins'), '/app/plugins', []);
    expect(run.output).toContain('loaded hello: greet("world") = "Hello, world (shared v1.0.0)"');
    expect(run.exitCode).toBe(0);

    // The plugin built for the glibc Go host: verify against the musl host, then the real plugin.Open there.
    const glibc = join(good, 'dist/plugins');
    const predicted = (JSON.parse((await cli(good, ['verify', '--image', GO_HOST_MUSL, '--dir', glibc, '--json'])).stdout) as VerifyReport).plugins[0];
    const real = await runWithDir(GO_HOST_MUSL, glibc, '/app/plugins', ['-allow-environment-mismatch']);
    expect(real.output).toContain('ENVIRONMENT MISMATCH OVERRIDDEN');
    const loaded = real.output.includes('loaded hello: greet("world")');
    expect(predicted?.outcome === 'loads', `verify: ${JSON.stringify(predicted)}\nreal: ${real.output}`).toBe(loaded);
    // pluginhost itself refuses it without the override: the lockfile names a glibc host.
    const refused = await runWithDir(GO_HOST_MUSL, glibc, '/app/plugins', []);
    expect(refused.output).toContain('rejected hello (ENVIRONMENT_MISMATCH)');
    expect(refused.output).toContain('libc.family: glibc → musl');
  });
});
