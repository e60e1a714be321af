import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildProject } from '../../src/building/build-project.js';
import { loadConfig } from '../../src/config/load-config.js';
import type { ProbeCache } from '../../src/env/probe-cache.js';
import { parseLockfile } from '../../src/lock/lockfile.js';
import { packageRoot } from '../../src/package-root.js';
import { toolVersion } from '../../src/version.js';
import { CountingEngine } from '../helpers/counting-engine.js';
import { engine, HOST_BOOKWORM, requireDocker, skipDocker } from '../helpers/docker.js';
import { generateProject } from '../helpers/generate-project.js';

/**
 * The tool's own probe cache, as the CLI keeps it in ~/.cache/plugin-builder (facts about an image
 * ID, remembered by the tool — never read from the repository's lockfile).
 */
const remembered = new Map<string, unknown>();
const probeCache: ProbeCache = {
  get: async <T>(key: string) => remembered.get(key) as T | undefined,
  set: async (key: string, value: unknown) => void remembered.set(key, value),
};

async function build(dir: string, options: { jobs?: number; cache?: boolean; check?: boolean } = {}) {
  const counting = new CountingEngine(engine);
  const report = await buildProject(await loadConfig(join(dir, 'builder.config.json')), { check: false, ...options }, {
    engine: counting,
    recipeDir: packageRoot(),
    report: () => {},
    probeCache,
  });
  return { report, containers: counting.containersCreated, images: counting.imagesBuilt };
}

const lockOf = async (dir: string) => parseLockfile(await readFile(join(dir, 'dist/plugins/builder.lock.json'), 'utf8'));

describe.skipIf(skipDocker)('input-addressed skip, parallel builds, compiler cache (real engine)', () => {
  let project: string;

  beforeAll(async () => {
    await requireDocker();
    project = await mkdtemp(join(tmpdir(), 'pb-twenty-'));
    await generateProject(project, { c: 10, go: 10 }, HOST_BOOKWORM);
    const first = await build(project, { jobs: 2 });
    expect(first.report.outcome).toBe('built');
    expect(first.report.plugins.every((p) => p.status === 'built')).toBe(true);
  });

  it('an unchanged project of 20 plugins starts no container and leaves the lockfile untouched', async () => {
    const lockPath = join(project, 'dist/plugins/builder.lock.json');
    const before = await stat(lockPath);
    const again = await build(project);
    expect(again.containers).toBe(0);
    expect(again.images).toBe(0);
    expect(again.report.outcome).toBe('built');
    expect(again.report.plugins.map((p) => p.status)).toEqual(Array(20).fill('unchanged'));
    expect((await stat(lockPath)).mtimeMs).toBe(before.mtimeMs);
    // The lockfile says which tool wrote it; another version of the tool alone does not rewrite it.
    const text = await readFile(lockPath, 'utf8');
    expect((await lockOf(project)).generator).toEqual({ tool: `plugin-builder ${toolVersion()}`, node: process.version });
    const older = text.replace(`"tool": "plugin-builder ${toolVersion()}"`, '"tool": "plugin-builder 0.0.9"');
    expect(older).not.toBe(text);
    await writeFile(lockPath, older);
    const written = (await stat(lockPath)).mtimeMs;
    expect((await build(project)).report.plugins.every((p) => p.status === 'unchanged')).toBe(true);
    expect(await readFile(lockPath, 'utf8')).toBe(older);
    expect((await stat(lockPath)).mtimeMs).toBe(written);
    await writeFile(lockPath, text);
  });

  it('a changed source or a tampered artifact rebuilds exactly that plugin', async () => {
    const source = join(project, 'plugins/c3/c3.c');
    await writeFile(source, (await readFile(source, 'utf8')).replace('x + 3', 'x + 33'));
    const artifact = join(project, 'dist/plugins/libgo4.so');
    const bytes = await readFile(artifact);
    bytes[100] = (bytes[100] ?? 0) ^ 1;
    await writeFile(artifact, bytes);
    const before = await lockOf(project);

    const result = await build(project);
    // Two compiles, and one container that proves both rebuilt artifacts load in the host image.
    expect(result.containers).toBe(3);
    const rebuilt = result.report.plugins.filter((p) => p.status === 'built').map((p) => p.name);
    expect(rebuilt).toEqual(['c3', 'go4']);
    const after = await lockOf(project);
    expect(after.plugins.c3?.sha256).not.toBe(before.plugins.c3?.sha256);
    expect(after.plugins.go4?.sha256).toBe(before.plugins.go4?.sha256); // same inputs, same bytes again
  });

  it('cached and uncached builds, sequential and parallel, give identical artifacts', async () => {
    const a = await mkdtemp(join(tmpdir(), 'pb-nocache-'));
    const b = await mkdtemp(join(tmpdir(), 'pb-cache-'));
    for (const dir of [a, b]) await generateProject(dir, { c: 2, go: 2 }, HOST_BOOKWORM);
    const uncached = await build(a, { cache: false, jobs: 1 });
    const cached = await build(b, { cache: true, jobs: 2 });
    expect(uncached.report.outcome).toBe('built');
    expect(cached.report.outcome).toBe('built');
    const shas = (r: typeof uncached) => Object.fromEntries(r.report.plugins.map((p) => [p.name, p.sha256]));
    expect(shas(cached)).toEqual(shas(uncached));
    // and they equal the 20-plugin project's artifacts of the same sources
    const twenty = await lockOf(project);
    expect(shas(cached).go0).toBe(twenty.plugins.go0?.sha256);
    expect(shas(cached).c0).toBe(twenty.plugins.c0?.sha256);
  });
});
