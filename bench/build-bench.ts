/**
 * Benchmark `builder build` against the obvious alternatives, on this machine, in one run:
 *   1. cold build of N = 1, 5, 20 plugins (half C, half Go c-shared):
 *      builder build (-j1, -j2, without and with a warm compiler cache)
 *      vs a shell loop of `docker run <builder image> gcc/go build` per plugin (bind mount)
 *      vs `docker build` of one Dockerfile per plugin (+ docker cp of the artifact)
 *   2. unchanged rebuild: the same three
 *   3. peak RSS of the builder process on 20 plugins
 * Usage: npx tsx bench/build-bench.ts   (after scripts/setup.sh; writes bench/results-build.md)
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { generateProject } from '../test/helpers/generate-project.js';

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist/builder.js');
const HOST = 'plugin-builder/example-host:bookworm';
const SIZES = [1, 5, 20];

function sh(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
}

function timed(fn: () => void): number {
  const t0 = performance.now();
  fn();
  return (performance.now() - t0) / 1000;
}

async function project(n: number): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), `pb-bench-${n}-`));
  await generateProject(dir, { c: Math.ceil(n / 2), go: Math.floor(n / 2) }, HOST);
  return dir;
}

function plugins(dir: string): Array<{ name: string; kind: string; path: string }> {
  return (JSON.parse(readFileSync(join(dir, 'builder.config.json'), 'utf8')) as { plugins: Array<{ name: string; kind: string; path: string }> }).plugins;
}

function compileScript(p: { name: string; kind: string }): string {
  return p.kind === 'c'
    ? `mkdir -p /out && gcc -shared -fPIC -O2 -o /out/lib${p.name}.so *.c`
    : `mkdir -p /out && CGO_ENABLED=1 GOPROXY=off GOCACHE=/tmp/gocache go build -trimpath -buildmode=c-shared -ldflags=-buildid= -o /out/lib${p.name}.so .`;
}

/** The seeds' "plugin builder image" practice: one docker run per plugin, sources bind-mounted. */
function shellLoop(dir: string, builder: string): void {
  for (const p of plugins(dir)) {
    sh('docker', ['run', '--rm', '--network', 'none', '-v', `${dir}:/src`, '-v', `${dir}/out:/out`, '-w', `/src/${p.path}`, builder, 'sh', '-c', compileScript(p)]);
  }
}

/** One Dockerfile per plugin: docker build, then copy the artifact out of a created container. */
function dockerBuilds(dir: string, builder: string, noCache: boolean): void {
  for (const p of plugins(dir)) {
    const file = join(dir, `Dockerfile.${p.name}`);
    writeFileSync(file, `FROM ${builder}\nCOPY ${p.path} /src\nWORKDIR /src\nRUN ${compileScript(p)}\n`);
    const tag = `plugin-builder/bench-${p.name}:latest`;
    sh('docker', ['build', '-q', ...(noCache ? ['--no-cache'] : []), '-f', file, '-t', tag, dir]);
    const id = sh('docker', ['create', tag, 'true']).trim();
    sh('docker', ['cp', `${id}:/out/lib${p.name}.so`, join(dir, `lib${p.name}.so`)]);
    sh('docker', ['rm', id]);
  }
}

/** Peak RSS (KiB) of a `builder build`, from GNU time. */
function builderRss(dir: string, args: string[]): { seconds: number; rssKiB: number } {
  const out = join(dir, 'rss.txt');
  const seconds = timed(() => sh('/usr/bin/time', ['-f', '%M', '-o', out, 'node', CLI, 'build', ...args], dir));
  return { seconds, rssKiB: Number(readFileSync(out, 'utf8').trim().split('\n').pop()) };
}

function builderRun(dir: string, args: string[]): number {
  return timed(() => sh('node', [CLI, 'build', ...args], dir));
}

async function main(): Promise<void> {
  // Warm-up (not timed): the builder images exist after this: C + Go, and C alone (N = 1 is one
  // C plugin, whose builder has no Go toolchain: without this, its row timed a builder image build).
  const warmC = await project(1);
  sh('node', [CLI, 'build', '--no-cache'], warmC);
  rmSync(warmC, { recursive: true, force: true });
  const warm = await project(2);
  sh('node', [CLI, 'build', '--no-cache'], warm);
  const builderImage = (JSON.parse(readFileSync(join(warm, 'dist/plugins/builder.lock.json'), 'utf8')) as { builder: { image: string } }).builder.image;
  // A warm compiler cache for the "cached" rows: the 20-plugin project's sources once.
  const cacheWarm = await project(20);
  sh('node', [CLI, 'build', '-j', '2'], cacheWarm);

  const rows: string[][] = [];
  let rss = { seconds: 0, rssKiB: 0 };
  for (const n of SIZES) {
    const dirs = await Promise.all(Array.from({ length: 6 }, () => project(n)));
    const [j1, j2, cachedJ2, loop, dockerfile, rssDir] = dirs as [string, string, string, string, string, string];
    const t = {
      j1: builderRun(j1, ['-j', '1', '--no-cache']),
      j2: builderRun(j2, ['-j', '2', '--no-cache']),
      cached: builderRun(cachedJ2, ['-j', '2']),
      loop: timed(() => shellLoop(loop, builderImage)),
      dockerfile: timed(() => dockerBuilds(dockerfile, builderImage, true)),
    };
    const again = {
      builder: builderRun(j2, []),
      loop: timed(() => shellLoop(loop, builderImage)),
      dockerfile: timed(() => dockerBuilds(dockerfile, builderImage, false)),
    };
    if (n === 20) rss = builderRss(rssDir, ['-j', '2', '--no-cache']);
    const r = (x: number) => `${x.toFixed(2)} s`;
    const ratio = (x: number) => `${(x / t.loop).toFixed(2)}×`;
    rows.push([String(n), r(t.j1), ratio(t.j1), r(t.j2), ratio(t.j2), r(t.cached), ratio(t.cached), r(t.loop), r(t.dockerfile), r(again.builder), r(again.loop), r(again.dockerfile)]);
    console.error(`N=${n}: ${rows[rows.length - 1]!.join(' | ')}`);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
  sh('sh', ['-c', 'docker images -q "plugin-builder/bench-*" | xargs -r docker rmi -f >/dev/null']);

  const header = ['N', 'builder -j1', 'vs loop', 'builder -j2', 'vs loop', 'builder -j2, warm cache', 'vs loop', 'shell loop', 'Dockerfile per plugin', 'unchanged: builder', 'unchanged: loop', 'unchanged: Dockerfiles'];
  const table = [header, header.map(() => '---'), ...rows].map((r) => `| ${r.join(' | ')} |`).join('\n');
  const cpu = sh('sh', ['-c', "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"]).trim();
  const text =
    `# Build benchmark (${new Date().toISOString().slice(0, 10)}, ${cpu}, ${sh('nproc', []).trim()} cores)\n\n` +
    `Cold = no lockfile, no artifacts; "--no-cache" rows without the compiler cache volume (like the alternatives).\n` +
    `All three use the same builder image (${builderImage}); half the plugins are C, half Go c-shared.\n\n` +
    `${table}\n\n` +
    `Peak RSS of \`builder build -j2 --no-cache\` on 20 plugins: ${(rss.rssKiB / 1024).toFixed(0)} MiB (${rss.seconds.toFixed(1)} s).\n`;
  writeFileSync(join(ROOT, 'bench/results-build.md'), text);
  console.log(text);
  for (const d of [warm, cacheWarm]) rmSync(d, { recursive: true, force: true });
}

await main();
