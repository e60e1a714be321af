import { execFileSync } from 'node:child_process';
import { cp, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { HOST_BOOKWORM, requireDocker, skipDocker } from '../helpers/docker.js';
import { cli, copyProject, REPO } from '../helpers/project.js';

/** The tool as a user gets it: `npm pack`, installed from the tarball into an empty directory, run with npx. */
describe.skipIf(skipDocker)('the packed package, installed and run (real npm, real engine)', () => {
  beforeAll(requireDocker);

  it('npm pack → npm install of the tarball → npx builder build on the shipped example: same lockfile as the checkout; README and fix texts point at files the package has; LICENSE; --version; schema', async () => {
    const work = await mkdtemp(join(tmpdir(), 'pb-package-'));
    const packed = execFileSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: REPO, encoding: 'utf8' }).trim().split('\n').pop()!;
    const install = join(work, 'install');
    await cp(join(work, packed), join(install, packed));
    // Dependencies from npm's cache when it has them (the checkout's `npm ci` filled it).
    execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', `./${packed}`], { cwd: install, stdio: ['ignore', 'ignore', 'pipe'] });
    const pkg = join(install, 'node_modules/plugin-builder');
    const { version, engines } = JSON.parse(await readFile(join(pkg, 'package.json'), 'utf8')) as { version: string; engines: { node: string } };
    expect(engines.node).toBe('>=18.17');
    expect((await readFile(join(pkg, 'LICENSE'), 'utf8')).startsWith('MIT License')).toBe(true);
    // What the README and the fix texts send people to.
    for (const file of ['scripts/quickstart.sh', 'scripts/ensure-docker.sh', 'scripts/ensure-registry.sh', 'scripts/make-host-image.sh', 'examples/hello/builder.config.json', 'dist/builder.config.schema.json', 'Dockerfile.builder', 'Dockerfile.host']) {
      expect((await stat(join(pkg, file))).isFile(), file).toBe(true);
    }
    const readme = await readFile(join(pkg, 'README.md'), 'utf8');
    for (const match of readme.matchAll(/`(?:bash )?(scripts\/[\w.-]+\.sh)/g)) expect((await stat(join(pkg, match[1]!))).isFile(), match[1]).toBe(true);
    expect(await readdir(join(pkg, 'examples/hello'))).not.toContain('dist');

    const app = join(install, 'app');
    await cp(join(pkg, 'examples/hello'), app, { recursive: true });
    const npx = (args: string[]) => execFileSync('npx', ['--no-install', 'builder', ...args], { cwd: app, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(npx(['--version']).trim()).toBe(version);
    expect(npx(['schema'])).toBe(await readFile(join(REPO, 'dist/builder.config.schema.json'), 'utf8'));
    npx(['build', '--progress', 'quiet']);
    const reference = await copyProject('examples/hello');
    expect((await cli(reference, ['build'])).code).toBe(0);
    expect(await readFile(join(app, 'dist/plugins/builder.lock.json'), 'utf8')).toBe(await readFile(join(reference, 'dist/plugins/builder.lock.json'), 'utf8'));

    // engines says >=18.17: the installed CLI on Debian bookworm's Node 18 (the host image's), against the same engine.
    const node18 = execFileSync(
      'docker',
      ['run', '--rm', '-u', '0', '-v', '/var/run/docker.sock:/var/run/docker.sock', '-v', `${install}:${install}`, '-w', app, HOST_BOOKWORM, 'sh', '-c', 'node --version && node ../node_modules/plugin-builder/dist/builder.js build --check --progress quiet && node ../node_modules/plugin-builder/dist/builder.js plan'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
    expect(node18).toMatch(/^v18\./);
    expect(node18).toContain('Check passed: every plugin rebuilt byte-identical');
    expect(node18).toContain('Nothing to build.');
    for (const d of [work, reference]) await rm(d, { recursive: true, force: true });
  }, 600_000);

  it('the Go path from the installed package: it ships go/pluginhost (no test files); make-go-host-image.sh builds the example Go host from the installed copy, whose go.mod replace names it', async () => {
    const work = await mkdtemp(join(tmpdir(), 'pb-package-go-'));
    const tag = 'plugin-builder/test-go-host-from-package:bookworm';
    try {
      const packed = execFileSync('npm', ['pack', '--silent', '--pack-destination', work], { cwd: REPO, encoding: 'utf8' }).trim().split('\n').pop()!;
      execFileSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '--loglevel=error', join(work, packed)], { cwd: work, stdio: ['ignore', 'ignore', 'pipe'] });
      const pkg = join(work, 'node_modules/plugin-builder');
      const shipped = await readdir(join(pkg, 'go/pluginhost'));
      expect(shipped).toEqual(expect.arrayContaining(['go.mod', 'host.go', 'errors.go', 'canary.go']));
      expect(shipped.filter((f) => f.endsWith('_test.go'))).toEqual([]);
      expect(await readFile(join(pkg, 'examples/go-host/host/go.mod'), 'utf8')).toContain('replace github.com/plugin-builder/pluginhost => ../../../go/pluginhost');
      execFileSync('bash', [join(pkg, 'scripts/make-go-host-image.sh'), tag, '--build-arg', 'BASE=plugin-builder/debian:bookworm', '--label', 'io.plugin-builder.managed=true'], { cwd: work, stdio: ['ignore', 'ignore', 'pipe'], timeout: 900_000 });
      const modules = await cli(work, ['env', '--image', tag, '--binary', '/app/gohost', '--json']);
      expect(modules.code, modules.stderr).toBe(0);
      expect(modules.stdout).toContain('github.com/plugin-builder/pluginhost');
    } finally {
      execFileSync('docker', ['rmi', '-f', tag], { stdio: 'ignore' });
      await rm(work, { recursive: true, force: true });
    }
  }, 900_000);
});
