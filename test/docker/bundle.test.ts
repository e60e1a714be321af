import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BASE_BOOKWORM, requireDocker, skipDocker } from '../helpers/docker.js';
import { REPO } from '../helpers/project.js';

const BUNDLE = join(REPO, 'dist/builder.js');

// Preloaded into the CLI's process: every CommonJS require it makes (the bundle's dependencies
// are CommonJS, loaded lazily; ssh2 and koffi are required from node_modules), printed at exit.
const PROBE = `
const Module = require('module');
const required = new Set();
const load = Module._load;
Module._load = function (request, ...rest) { required.add(request); return load.call(this, request, ...rest); };
process.on('exit', () => process.stderr.write('\\nREQUIRED ' + JSON.stringify([...required]) + '\\n'));
`;

/**
 * The shipped `builder` is one bundled file (tools/bundle-cli.mjs): what it runs must be what
 * the tests run, and start-up must not evaluate what a command does not need.
 */
describe.skipIf(skipDocker)('the bundled CLI (dist/builder.js)', () => {
  let work: string;
  let probe: string;

  beforeAll(async () => {
    await requireDocker();
    expect(existsSync(BUNDLE), 'dist/builder.js is missing: run npm run build').toBe(true);
    work = await mkdtemp(join(tmpdir(), 'pb-bundle-'));
    probe = join(work, 'probe.cjs');
    await writeFile(probe, PROBE);
  });

  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  function run(args: string[], cwd = work): { code: number | null; stdout: string; stderr: string; required: string[] } {
    const child = spawnSync(process.execPath, ['-r', probe, BUNDLE, ...args], { cwd, encoding: 'utf8', env: { ...process.env, DOCKER_HOST: '' } });
    const marker = child.stderr.lastIndexOf('\nREQUIRED ');
    return { code: child.status, stdout: child.stdout, stderr: child.stderr.slice(0, marker), required: JSON.parse(child.stderr.slice(marker + 10)) as string[] };
  }

  it('is the one `builder`: package.json names it, tsc\'s per-module CLI entry is not shipped beside it', async () => {
    const pkg = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(pkg.bin).toEqual({ builder: 'dist/builder.js' });
    expect(existsSync(join(REPO, 'dist/cli/main.js'))).toBe(false);
    const text = await readFile(BUNDLE, 'utf8');
    expect(text.startsWith('#!/usr/bin/env node\n')).toBe(true);
    // dockerode's BuildKit modules (gRPC, protobufjs) are not in it.
    expect(text).not.toMatch(/protobufjs|@grpc\/grpc-js/);
  });

  it('--version, --help and schema evaluate commander only (no dockerode: it requires http)', async () => {
    const { version } = JSON.parse(await readFile(join(REPO, 'package.json'), 'utf8')) as { version: string };
    const v = run(['--version']);
    expect([v.code, v.stdout]).toEqual([0, `${version}\n`]);
    const schema = run(['schema']);
    expect(schema.stdout).toBe(await readFile(join(REPO, 'dist/builder.config.schema.json'), 'utf8'));
    const help = run(['--help']);
    expect(help.stdout).toMatch(/build \[options\]/);
    for (const r of [v, schema, help]) {
      expect(r.code).toBe(0);
      expect(r.required).not.toContain('http');
      expect(r.required.filter((m) => !m.startsWith('node:'))).toEqual([]);
    }
  });

  it('a build over the local socket never loads ssh2 (only an ssh:// engine does) nor koffi', async () => {
    const dir = join(work, 'project');
    await mkdir(join(dir, 'plugins/p'), { recursive: true });
    await writeFile(join(dir, 'builder.config.json'), JSON.stringify({ host: { image: BASE_BOOKWORM }, plugins: [{ name: 'p', kind: 'c', path: 'plugins/p' }] }));
    await writeFile(join(dir, 'plugins/p/p.c'), 'int p_add(int a, int b) { return a + b; }\n');
    const build = run(['build', '--no-cache'], dir);
    expect(build.code, build.stderr).toBe(0);
    expect(build.required).toContain('http');
    expect(build.required).not.toContain('ssh2');
    expect(build.required).not.toContain('koffi');
  }, 300_000);
});
