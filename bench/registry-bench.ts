/**
 * A host's start from a registry against a baked image, and a reload by reference, in one run
 * (medians of ROUNDS, interleaved), for the example set (greet + shout, 1.5 MB), signed:
 *   - baked: `builder deploy` of the set into the host image; a container of it until its
 *     plugins answer (`GET /plugins` lists both loaded);
 *   - registry, cold store: the plain host image with `--from REPO@sha256:…` and an empty store;
 *   - registry, warm store: the same container restarted (the set in its store, the registry not asked);
 *   - reload by reference: `PUT /plugins/reload {"ref": …}` on the running (cold-started) host, to
 *     a set whose greet was changed and rebuilt, until it answers (fetch, canary, load).
 * Usage: npx tsx bench/registry-bench.ts   (after scripts/setup.sh and scripts/ensure-registry.sh;
 * writes bench/results-registry.md)
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist/builder.js');
const HOST = 'plugin-builder/example-host:bookworm';
const REGISTRY = process.env.PB_REGISTRY_ADDR ?? '127.0.0.1:5000';
const ROUNDS = 7;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const ms = (s: number) => `${(s * 1000).toFixed(0)} ms`;
const cli = (dir: string, args: string[]) => execFileSync('node', [CLI, ...args], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const docker = (args: string[]) => execFileSync('docker', args, { encoding: 'utf8' }).trim();

async function until(port: number): Promise<void> {
  for (;;) {
    const body = await fetch(`http://127.0.0.1:${port}/plugins`, { signal: AbortSignal.timeout(1000) }).then((r) => r.json() as Promise<{ plugins?: Array<{ status: string }> }>, () => null);
    if (body?.plugins?.length === 2 && body.plugins.every((p) => p.status === 'loaded')) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function timedStart(args: string[], port: number): Promise<{ seconds: number; id: string }> {
  const t0 = performance.now();
  const id = docker(['run', '-d', '--network', 'host', '--label', 'io.plugin-builder.managed=true', ...args]);
  await until(port);
  return { seconds: (performance.now() - t0) / 1000, id };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pb-bench-registry-'));
  cpSync(join(ROOT, 'examples/hello'), dir, { recursive: true, filter: (s) => !s.includes('/dist/') });
  cli(dir, ['keygen', '--out-dir', 'keys']);
  cli(dir, ['build', '--sign-key', 'keys/builder-signing.key', '--progress', 'quiet']);
  const repo = `${REGISTRY}/pb-bench/hello-${process.pid}`;
  const publish = (tag: string) => (JSON.parse(cli(dir, ['publish', `${repo}:${tag}`, '--json'])) as { pinned: string }).pinned;
  const v1 = publish('v1');
  const baked = `pb-bench/baked:${process.pid}`;
  cli(dir, ['deploy', '--tag', baked, '--trust-key', 'keys/builder-signing.pub']);
  const trust = join(dir, 'keys');
  const rows: Record<string, number[]> = { 'baked image: start until both plugins answer': [], 'registry, cold store: start until both plugins answer': [], 'registry, warm store (restart): until both plugins answer': [], 'reload by reference to a changed greet (PUT until 200)': [] };
  const containers: string[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const port = 18500 + round * 3;
      const b = await timedStart([baked, 'node', '/app/dist/builder.js', 'host', '--plugins', '/app/plugins', '--trust-dir', '/app/trust', '--listen', '127.0.0.1', '--port', String(port)], port);
      containers.push(b.id);
      rows['baked image: start until both plugins answer']!.push(b.seconds);
      const r = await timedStart(['-v', `${trust}:/trust:ro`, HOST, 'node', '/app/dist/builder.js', 'host', '--from', v1, '--store', '/tmp/store', '--trust-dir', '/trust', '--listen', '127.0.0.1', '--port', String(port + 1)], port + 1);
      containers.push(r.id);
      rows['registry, cold store: start until both plugins answer']!.push(r.seconds);
      const t0 = performance.now();
      docker(['restart', '-t', '5', r.id]);
      await until(port + 1);
      rows['registry, warm store (restart): until both plugins answer']!.push((performance.now() - t0) / 1000);
      // greet changed and rebuilt (a new .so, signed later): the reload fetches it, loads it in
      // the canary and then in the host.
      appendFileSync(join(dir, 'plugins/greet/greet.c'), `int bench_round_${round};\n`);
      cli(dir, ['build', '--sign-key', 'keys/builder-signing.key', '--progress', 'quiet']);
      const next = publish(`r${round}`);
      const t1 = performance.now();
      const answer = await fetch(`http://127.0.0.1:${port + 1}/plugins/reload`, { method: 'PUT', body: JSON.stringify({ ref: next }) });
      if (answer.status !== 200) throw new Error(`reload answered ${answer.status}: ${await answer.text()}`);
      rows['reload by reference to a changed greet (PUT until 200)']!.push((performance.now() - t1) / 1000);
      docker(['rm', '-f', b.id, r.id]);
    }
  } finally {
    for (const id of containers) execFileSync('docker', ['rm', '-f', id], { stdio: 'ignore' });
    execFileSync('docker', ['rmi', baked], { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  }
  const med = Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, median(v)]));
  const baseline = med['baked image: start until both plugins answer']!;
  const lines = [
    `# Registry benchmark (${new Date().toISOString().slice(0, 10)}, ${cpus()[0]?.model ?? 'cpu'}, ${cpus().length} cores, Node ${process.version})`,
    '',
    `Medians of ${ROUNDS} interleaved rounds; the example set (greet and shout, 1.5 MB), signed, registry ${REGISTRY} (Distribution 2.8 on loopback).`,
    '',
    '| what | median | vs baked |',
    '| --- | --- | --- |',
    ...Object.entries(med).map(([k, v]) => `| ${k} | ${ms(v)} | ${k.startsWith('reload') ? '—' : `${(v / baseline).toFixed(2)}×`} |`),
    '',
  ];
  writeFileSync(join(ROOT, 'bench/results-registry.md'), lines.join('\n'));
  process.stdout.write(lines.join('\n'));
}

await main();
