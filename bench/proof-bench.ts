/**
 * Proof benchmark, in one run (ratios, not seconds, are what to compare on a shared machine):
 *   1. cold build of the example (fresh copy: no lockfile, an empty compiler cache; builder image
 *      present) with the proof vs with --no-prove, interleaved — target: the proof ≤ 10 % of it;
 *   2. a build of the unchanged example whose artifacts are already proven (no proof container)
 *      — target ≤ 0.5 s per run — and the same with --no-prove;
 *   3. the proof step alone, as the build reports it ("proof done in …").
 * The canary's cost per reload is in bench/load-bench.ts ("with canary").
 * Usage: npx tsx bench/proof-bench.ts   (after scripts/setup.sh; writes bench/results-proof.md)
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist/builder.js');
const COLD_ROUNDS = 5;
const WARM_ROUNDS = 11;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

function freshCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pb-proof-bench-'));
  cpSync(join(ROOT, 'examples/hello'), dir, { recursive: true, filter: (src) => !src.includes('/dist/') });
  return dir;
}

function buildCapturing(dir: string, args: string[]): { seconds: number; proofSeconds: number | null } {
  const t0 = performance.now();
  const result = execFileSync('sh', ['-c', `node "${CLI}" build ${args.join(' ')} 2>&1 >/dev/null`], { cwd: dir, encoding: 'utf8' });
  const seconds = (performance.now() - t0) / 1000;
  const m = /proof done in ([0-9.]+) s/.exec(result);
  return { seconds, proofSeconds: m ? Number(m[1]) : null };
}

// Warm the builder image and the host image's page cache once: "cold" is about the project, not the engine.
const warm = freshCopy();
buildCapturing(warm, []);
rmSync(warm, { recursive: true, force: true });

const cold = { prove: [] as number[], noProve: [] as number[], proofStep: [] as number[] };
for (let i = 0; i < COLD_ROUNDS; i++) {
  for (const prove of [true, false]) {
    const dir = freshCopy();
    try {
      const run = buildCapturing(dir, prove ? [] : ['--no-prove']);
      (prove ? cold.prove : cold.noProve).push(run.seconds);
      if (prove && run.proofSeconds !== null) cold.proofStep.push(run.proofSeconds);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

// The floor of any real load in the host image: one container of it running its node, doing nothing.
const floor: number[] = [];
for (let i = 0; i < WARM_ROUNDS; i++) {
  const t0 = performance.now();
  execFileSync('docker', ['run', '--rm', '--network', 'none', '--read-only', '--entrypoint', 'node', 'plugin-builder/example-host:bookworm', '-e', '0'], { stdio: 'ignore' });
  floor.push((performance.now() - t0) / 1000);
}

const unchanged = { prove: [] as number[], noProve: [] as number[] };
const dir = freshCopy();
buildCapturing(dir, []);
for (let i = 0; i < WARM_ROUNDS; i++) {
  unchanged.prove.push(buildCapturing(dir, []).seconds);
  unchanged.noProve.push(buildCapturing(dir, ['--no-prove']).seconds);
}
rmSync(dir, { recursive: true, force: true });

const m = (xs: number[]) => median(xs);
const s = (x: number) => `${x.toFixed(2)} s`;
const share = (m(cold.prove) - m(cold.noProve)) / m(cold.noProve);
const text =
  `# Proof benchmark (${new Date().toISOString().slice(0, 10)}, one run)\n\n` +
  `The example (a C plugin and a Go c-shared plugin) for \`plugin-builder/example-host:bookworm\`, whose proof runs the host image's own runtime (\`node /app/dist/builder.js canary\`).\n\n` +
  `| | with the proof | --no-prove | the proof's share |\n| --- | --- | --- | --- |\n` +
  `| cold build (median of ${COLD_ROUNDS}, interleaved) | ${s(m(cold.prove))} | ${s(m(cold.noProve))} | **${(share * 100).toFixed(1)} %** (target ≤ 10 %) |\n` +
  `| the proof step as the build reports it (median) | ${s(m(cold.proofStep))} | — | ${((m(cold.proofStep) / m(cold.noProve)) * 100).toFixed(1)} % of the cold build |\n` +
  `| floor: \`docker run --read-only --network none\` of the host image's \`node -e 0\` (median of ${WARM_ROUNDS}) | ${s(m(floor))} | — | the proof step is ${(m(cold.proofStep) / m(floor)).toFixed(2)}× it |\n` +
  `| unchanged, already proven (median of ${WARM_ROUNDS}, no container) | ${s(m(unchanged.prove))} | ${s(m(unchanged.noProve))} | target ≤ 0.5 s per run |\n`;
writeFileSync(join(ROOT, 'bench/results-proof.md'), text);
console.log(text);
