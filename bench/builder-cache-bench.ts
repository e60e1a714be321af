/**
 * Fresh CI runner, one run: the engine has the host image but no builder image. How long does
 * `builder build` take to get its builder image by rebuilding it (apt inside) versus pulling it
 * from the local registry with --cache-from? Two toolchains: C only (a generated project) and
 * C + Go (examples/hello), two rounds each, alternating, medians reported.
 * Also measured, to decide whether shipping the compiler cache pays: the cache volume's size
 * after a 10-plugin build, that build cold vs warm, and on a fresh runner the same build with
 * the compiler cache restored from the registry vs without it.
 * Usage: bash scripts/ensure-registry.sh && npx tsx bench/builder-cache-bench.ts   (after scripts/setup.sh)
 * Writes bench/results-builder-cache.md.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { generateProject } from '../test/helpers/generate-project.js';

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist/builder.js');
const HOST = 'plugin-builder/example-host:bookworm';
const REGISTRY = process.env.PB_REGISTRY_ADDR ?? '127.0.0.1:5000';
const CACHE = `${REGISTRY}/bench/builder-cache`;
const ROUNDS = 2;

function sh(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 });
}

/** `builder build` in `dir`; wall time and its stderr (the progress lines). */
function build(dir: string, args: string[]): { seconds: number; stderr: string } {
  const t0 = performance.now();
  const run = spawnSync('node', [CLI, 'build', ...args], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 64 << 20 });
  if (run.status !== 0) throw new Error(`builder build ${args.join(' ')} failed (${run.status}):\n${run.stderr}`);
  return { seconds: (performance.now() - t0) / 1000, stderr: run.stderr };
}

function builderTag(dir: string): string {
  return (JSON.parse(readFileSync(join(dir, 'dist/plugins/builder.lock.json'), 'utf8')) as { builder: { image: string } }).builder.image;
}

/** As on a fresh runner: no builder image, no build cache that could stand in for it. */
function forgetBuilder(tag: string): void {
  const id = sh('docker', ['image', 'inspect', '-f', '{{.Id}}', tag]).trim();
  sh('docker', ['rmi', '-f', id]);
  sh('docker', ['builder', 'prune', '-af']);
  const left = sh('docker', ['images', '-q', '--no-trunc']).split('\n');
  if (left.includes(id)) throw new Error(`${id} is still on the engine`);
}

function seconds(stderr: string, pattern: RegExp): number {
  const m = pattern.exec(stderr);
  if (!m) throw new Error(`no ${pattern} in:\n${stderr}`);
  return Number(m[1]);
}

/** The compressed size of the builder's own layers in the registry (those the base does not have). */
async function pushedLayerMiB(tag: string): Promise<number> {
  const [repository, reference] = [CACHE.slice(REGISTRY.length + 1), tag.slice(tag.lastIndexOf(':') + 1)];
  const manifest = (await (await fetch(`http://${REGISTRY}/v2/${repository}/manifests/${reference}`, { headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } })).json()) as { layers: Array<{ size: number }> };
  const baseLayers = sh('docker', ['image', 'inspect', '-f', '{{len .RootFS.Layers}}', HOST]).trim();
  return manifest.layers.slice(Number(baseLayers)).reduce((sum, l) => sum + l.size, 0) / 2 ** 20;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function fresh(kind: 'c' | 'c+go'): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), `pb-bench-cache-${kind === 'c' ? 'c' : 'cgo'}-`));
  if (kind === 'c+go') cpSync(join(ROOT, 'examples/hello'), dir, { recursive: true, filter: (s) => !s.includes('/dist/') });
  else await generateProject(dir, { c: 2, go: 0 }, HOST);
  return dir;
}

function layerMiB(tag: string): number {
  return Number(sh('docker', ['image', 'inspect', '-f', '{{.Size}}', tag]).trim()) / 2 ** 20;
}

async function main(): Promise<void> {
  const rows: string[][] = [];
  for (const kind of ['c', 'c+go'] as const) {
    // Put this toolchain's builder in the cache once (not timed).
    const seed = await fresh(kind);
    build(seed, ['--cache-to', CACHE]);
    const tag = builderTag(seed);
    const imageMiB = layerMiB(tag) - layerMiB(HOST);
    const gzipMiB = await pushedLayerMiB(tag);
    const rebuild: number[] = [];
    const rebuildTotal: number[] = [];
    const pull: number[] = [];
    const pullTotal: number[] = [];
    const plain: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      forgetBuilder(tag);
      const a = await fresh(kind);
      const built = build(a, ['--no-cache']);
      rebuild.push(seconds(built.stderr, /builder image \S+ built in ([\d.]+) s/));
      rebuildTotal.push(built.seconds);
      // The engine's own pull of the same image, for what our pull adds to it.
      forgetBuilder(tag);
      const ref = `${CACHE}:${tag.slice(tag.lastIndexOf(':') + 1)}`;
      const t0 = performance.now();
      sh('docker', ['pull', '-q', ref]);
      plain.push((performance.now() - t0) / 1000);
      sh('docker', ['tag', ref, tag]);
      sh('docker', ['rmi', ref]);
      forgetBuilder(tag);
      const b = await fresh(kind);
      const pulled = build(b, ['--no-cache', '--cache-from', CACHE]);
      pull.push(seconds(pulled.stderr, /builder image pulled from \S+ in ([\d.]+) s/));
      pullTotal.push(pulled.seconds);
      if (builderTag(a) !== builderTag(b)) throw new Error('the two runs used different builder inputs');
      for (const d of [a, b]) rmSync(d, { recursive: true, force: true });
    }
    const r = (x: number) => `${x.toFixed(1)} s`;
    rows.push([
      kind === 'c' ? 'C (gcc, ccache, libc6-dev)' : 'C + Go c-shared (examples/hello: + golang-go)',
      `${imageMiB.toFixed(0)} MiB (${gzipMiB.toFixed(0)} MiB gzip)`,
      r(median(rebuild)),
      r(median(pull)),
      `**${(median(rebuild) / median(pull)).toFixed(1)}×**`,
      r(median(plain)),
      `${(median(pull) / median(plain)).toFixed(2)}×`,
      r(median(rebuildTotal)),
      r(median(pullTotal)),
      `${(median(rebuildTotal) / median(pullTotal)).toFixed(1)}×`,
    ]);
    console.error(rows[rows.length - 1]!.join(' | '));
    rmSync(seed, { recursive: true, force: true });
  }

  // The compiler cache: does shipping it pay? Its size after 10 plugins, and what it saves.
  sh('docker', ['volume', 'rm', '-f', 'plugin-builder-cache']);
  const cold = mkdtempSync(join(tmpdir(), 'pb-bench-ccache-'));
  await generateProject(cold, { c: 5, go: 5 }, HOST);
  const coldRun = build(cold, ['-j', '2']);
  const warm = mkdtempSync(join(tmpdir(), 'pb-bench-ccache-'));
  await generateProject(warm, { c: 5, go: 5 }, HOST);
  const warmRun = build(warm, ['-j', '2']);
  const cacheMiB = Number(sh('docker', ['run', '--rm', '-v', 'plugin-builder-cache:/c', HOST, 'du', '-sm', '/c']).split(/\s/)[0]);
  // Shipping it: push this cache with --cache-to, then on a fresh runner (no builder image, no
  // cache volume) build the same 10 plugins with the builder pulled, without and with it.
  const seed = mkdtempSync(join(tmpdir(), 'pb-bench-ccache-'));
  await generateProject(seed, { c: 5, go: 5 }, HOST);
  const pushed = build(seed, ['-j', '2', '--cache-to', CACHE]);
  const pushSeconds = seconds(pushed.stderr, /compiler cache pushed to .* in ([\d.]+) s/);
  const tag = builderTag(seed);
  const without: number[] = [];
  const withCache: number[] = [];
  const restore: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const shipped of [false, true]) {
      forgetBuilder(tag);
      sh('docker', ['volume', 'rm', '-f', 'plugin-builder-cache']);
      const dir = mkdtempSync(join(tmpdir(), 'pb-bench-ccache-'));
      await generateProject(dir, { c: 5, go: 5 }, HOST);
      const run = build(dir, ['-j', '2', '--cache-from', CACHE, ...(shipped ? [] : ['--no-cache'])]);
      if (shipped) {
        withCache.push(run.seconds);
        restore.push(seconds(run.stderr, /compiler cache restored from .* in ([\d.]+) s/));
      } else without.push(run.seconds);
      rmSync(dir, { recursive: true, force: true });
    }
  }
  for (const d of [cold, warm, seed]) rmSync(d, { recursive: true, force: true });

  const header = ['toolchain', 'toolchain layer', 'builder image: rebuilt', 'pulled (--cache-from)', 'ratio', '`docker pull` of it', 'ours / docker pull', 'whole build: rebuilt', 'whole build: pulled', 'ratio'];
  const table = [header, header.map(() => '---'), ...rows].map((row) => `| ${row.join(' | ')} |`).join('\n');
  const cpu = sh('sh', ['-c', "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"]).trim();
  const text =
    `# Builder image cache benchmark (${new Date().toISOString().slice(0, 10)}, ${cpu}, ${sh('nproc', []).trim()} cores)\n\n` +
    `A fresh runner: the host image is on the engine, the builder image is not (removed by ID, build cache pruned) before every timed build.\n` +
    `"Rebuilt" installs the toolchain with apt from Debian's mirror; "pulled" takes it from the registry on 127.0.0.1:5000 (${CACHE}).\n` +
    `Builder image times are the ones \`builder build\` prints; whole builds are wall time of \`node dist/builder.js build --no-cache\`; medians of ${ROUNDS} rounds.\n\n` +
    `${table}\n\n` +
    `Compiler cache (ccache + GOCACHE volume) after 10 plugins (5 C, 5 Go c-shared): ${cacheMiB} MiB; that build cold ${coldRun.seconds.toFixed(1)} s, ` +
    `the same sources again with the warm cache ${warmRun.seconds.toFixed(1)} s.\n\n` +
    `Shipping it (--cache-to pushed it in ${pushSeconds.toFixed(1)} s). A fresh runner — no builder image, no cache volume — builds the same 10 plugins ` +
    `with the builder pulled (--cache-from): without the compiler cache (--no-cache) ${median(without).toFixed(1)} s, ` +
    `with it restored from the registry ${median(withCache).toFixed(1)} s (the restore itself ${median(restore).toFixed(1)} s): ` +
    `**${(median(without) / median(withCache)).toFixed(2)}×**.\n`;
  writeFileSync(join(ROOT, 'bench/results-builder-cache.md'), text);
  console.log(text);
}

await main();
