import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildProject } from '../../src/building/build-project.js';
import { compilerCacheScope } from '../../src/building/cache-scope.js';
import { loadConfig } from '../../src/config/load-config.js';
import { packageRoot } from '../../src/package-root.js';
import { CountingEngine } from '../helpers/counting-engine.js';
import { BASE_BOOKWORM, engine, requireDocker, skipDocker } from '../helpers/docker.js';
import { cli } from '../helpers/project.js';

/**
 * The compiler cache is one trust domain's (a project directory on this machine): the red team's
 * attack ran code in one project's build (a compiler option from its own config) and wrote the
 * engine-wide cache another project then linked from. Here the attacker's build really runs its
 * own program (`-B/src/plugins/evil/`: gcc takes `as` from the project's sources), looks for the
 * victim's cache entries and writes into the cache it has; the victim's cache must be out of its
 * reach, and `--check` must compile with no cache at all.
 */

const ADD = 'int Add(int a, int b) { return a + b; }\n';

async function cProject(name: string, plugin: { source: string; cflags?: string[]; files?: Record<string, { text: string; mode?: number }> }): Promise<string> {
  const dir = await realpath(await mkdtemp(join(tmpdir(), `pb-domain-${name}-`)));
  await mkdir(join(dir, 'plugins', name), { recursive: true });
  await writeFile(join(dir, 'plugins', name, `${name}.c`), plugin.source);
  for (const [file, { text, mode }] of Object.entries(plugin.files ?? {})) {
    await writeFile(join(dir, 'plugins', name, file), text);
    if (mode) await chmod(join(dir, 'plugins', name, file), mode);
  }
  await writeFile(join(dir, 'builder.config.json'), JSON.stringify({
    host: { image: BASE_BOOKWORM },
    plugins: [{ name, kind: 'c', path: `plugins/${name}`, ...(plugin.cflags ? { cflags: plugin.cflags } : {}) }],
    outDir: 'dist/plugins',
    lockfile: 'dist/plugins/builder.lock.json',
  }));
  return dir;
}

/** Paths in a volume, as a container sees them. */
function volumeFiles(volume: string, pattern: string): string[] {
  const out = execFileSync('docker', ['run', '--rm', '--network', 'none', '-v', `${volume}:/cache`, BASE_BOOKWORM, 'find', '/cache', '-type', 'f', '-name', pattern], { encoding: 'utf8' });
  return out.split('\n').filter(Boolean);
}

describe.skipIf(skipDocker)('compiler caches are scoped to their trust domain (real engine, a real hostile build)', () => {
  let victim: string;
  let attacker: string;

  beforeAll(async () => {
    await requireDocker();
    victim = await cProject('add', { source: ADD });
    // The attacker's `as`: counts the ccache results it can see, plants a marker (and a
    // ccache.conf) in the cache it has, then assembles as the real one would.
    const evil = [
      '#!/bin/sh',
      'seen=$(find /cache -type f -name "*R" 2>/dev/null | wc -l)',
      'mkdir -p /cache/ccache && echo pwned > "/cache/ccache/POISON-$seen" && echo "prefix_command = /bin/false" > /cache/ccache/ccache.conf',
      'exec /usr/bin/as "$@"',
    ].join('\n');
    attacker = await cProject('evil', { source: ADD.replace('a + b', '1337'), cflags: ['-B/src/plugins/evil/'], files: { as: { text: `${evil}\n`, mode: 0o755 } } });
  });

  it("one project's build runs its own code and cannot reach another project's cache; the victim rebuilds identical", async () => {
    const first = await cli(victim, ['build', '--json']);
    expect(first.code, first.stderr).toBe(0);
    const victimSha = (JSON.parse(first.stdout) as { plugins: Array<{ sha256: string }> }).plugins[0]!.sha256;
    const victimVolume = compilerCacheScope(victim).volume;
    expect(volumeFiles(victimVolume, '*R').length).toBeGreaterThan(0);

    const evil = await cli(attacker, ['build', '--json']);
    expect(evil.code, evil.stderr).toBe(0);
    const attackerVolume = compilerCacheScope(attacker).volume;
    expect(attackerVolume).not.toBe(victimVolume);
    // The attacker's program ran, and saw no cache result at all (its own cache was empty).
    expect(volumeFiles(attackerVolume, 'POISON-*').map((p) => p.split('/').pop())).toEqual(['POISON-0']);
    // Nothing of it reached the victim's cache.
    expect(volumeFiles(victimVolume, 'POISON-*')).toEqual([]);
    expect(volumeFiles(victimVolume, 'ccache.conf')).toEqual([]);

    await rm(join(victim, 'dist'), { recursive: true, force: true });
    const again = await cli(victim, ['build', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect((JSON.parse(again.stdout) as { plugins: Array<{ sha256: string }> }).plugins[0]!.sha256).toBe(victimSha);
    const labels = execFileSync('docker', ['volume', 'inspect', '-f', '{{index .Labels "io.plugin-builder.cache-domain"}}', victimVolume, attackerVolume], { encoding: 'utf8' }).trim().split('\n');
    expect(labels[0]).toMatch(new RegExp(`:${victim.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
    expect(labels[1]).toMatch(new RegExp(`:${attacker.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
  });

  it('--check compiles from source with no compiler cache mounted, even when the project\'s own cache was poisoned', async () => {
    // The attacker's own cache now holds a marker and a ccache.conf naming a prefix command.
    expect(volumeFiles(compilerCacheScope(attacker).volume, 'ccache.conf')).toHaveLength(1);
    const counting = new CountingEngine(engine);
    const report = await buildProject(await loadConfig(join(attacker, 'builder.config.json')), { check: true }, { engine: counting, recipeDir: packageRoot(), report: () => {} });
    expect(report.outcome).toBe('check-passed');
    const builds = counting.containerSpecs.filter((s) => s.labels?.['io.plugin-builder.role'] === 'build');
    expect(builds.length).toBe(1);
    for (const spec of builds) expect(spec.volumes ?? []).toEqual([]);
    expect(builds[0]!.env?.some((e) => e.startsWith('CCACHE_DIR='))).toBe(false);
    expect(await readFile(join(attacker, 'dist/plugins/builder.lock.json'), 'utf8')).toContain('"evil"');
  });
});
