/**
 * Memory benchmark: peak RSS of `builder build` (compiled CLI, in one process, getrusage maxRSS)
 * for a plugin with a 1,000,000,000-byte artifact, for one whose compiler prints ~100 MB of
 * output, and for a tiny plugin as the baseline of the same run. Target: ≤ 150 MB for both.
 * Usage: npx tsx bench/memory-bench.ts  (after scripts/setup.sh, engine running; writes bench/results-memory.md)
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const HOST = 'plugin-builder/example-host:bookworm';
const MB = 1024 * 1024;

interface Case {
  label: string;
  name: string;
  source: string;
  cflags: string[];
}

function project(c: Case): string {
  const dir = mkdtempSync(join(tmpdir(), 'pb-membench-'));
  mkdirSync(join(dir, 'plugins', c.name), { recursive: true });
  writeFileSync(join(dir, 'plugins', c.name, `${c.name}.c`), c.source);
  writeFileSync(
    join(dir, 'builder.config.json'),
    JSON.stringify({ host: { image: HOST }, plugins: [{ name: c.name, kind: 'c', path: `plugins/${c.name}`, cflags: c.cflags }], outDir: 'out', lockfile: 'out/builder.lock.json' }),
  );
  return dir;
}

function measure(c: Case): { code: number; maxRssBytes: number; artifactBytes: number | null; outputBytes: number | null; seconds: number } {
  const dir = project(c);
  try {
    const t0 = Date.now();
    // The builder's own memory; the proof (which streams the artifact into a container of the host) is left out: these plugins have no manifest.
    const run = spawnSync(process.execPath, [join(ROOT, 'bench/peak-rss.mjs'), 'build', '--no-cache', '--no-prove'], { cwd: dir, encoding: 'utf8', maxBuffer: 16 * MB });
    const seconds = (Date.now() - t0) / 1000;
    const { code, maxRssBytes } = JSON.parse(run.stdout.trim().split('\n').pop() as string) as { code: number; maxRssBytes: number };
    let artifactBytes: number | null = null;
    try {
      artifactBytes = statSync(join(dir, 'out', `lib${c.name}.so`)).size;
    } catch {
      artifactBytes = null;
    }
    // A failed build's report carries outputBytes: ask once more, as JSON.
    let outputBytes: number | null = null;
    if (code !== 0) {
      const json = spawnSync(process.execPath, [join(ROOT, 'dist/builder.js'), 'build', '--json', '--no-cache', '--no-prove'], { cwd: dir, encoding: 'utf8', maxBuffer: 16 * MB });
      outputBytes = (JSON.parse(json.stdout) as { plugins: Array<{ outputBytes?: number }> }).plugins[0]?.outputBytes ?? null;
    }
    return { code, maxRssBytes, artifactBytes, outputBytes, seconds };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const manifest = (name: string) => `const char *builder_plugin_manifest(void) { return "{\\"name\\":\\"${name}\\",\\"version\\":\\"1\\",\\"functions\\":{}}"; }\n`;
const warnings = Array.from({ length: 860_000 }, (_, i) => `#warning noisy line ${i} ${'x'.repeat(60)}`).join('\n');
const cases: Case[] = [
  { label: 'tiny plugin (baseline)', name: 'tiny', source: manifest('tiny'), cflags: ['-O2'] },
  { label: '1,000,000,000-byte artifact', name: 'huge', source: manifest('huge') + 'const unsigned char blob[1000000000] = { 1, 2, 3 };\n', cflags: ['-O0'] },
  { label: '~100 MB of compiler output (then an error)', name: 'noisy', source: manifest('noisy') + warnings + '\nint broken = undeclared;\n', cflags: ['-O0', '-fno-diagnostics-show-caret'] },
];

const rows: string[] = [];
const results = cases.map((c) => {
  const r = measure(c);
  console.log(c.label, r);
  return { c, r };
});
const base = results[0]?.r.maxRssBytes ?? 1;
for (const { c, r } of results) {
  rows.push(
    `| ${c.label} | ${r.code} | ${r.artifactBytes?.toLocaleString('en-US') ?? '–'} | ${r.outputBytes?.toLocaleString('en-US') ?? '–'} | ${(r.maxRssBytes / MB).toFixed(1)} MiB | ${(r.maxRssBytes / base).toFixed(2)}× | ${r.seconds.toFixed(1)} s |`,
  );
}
const text =
  `# Memory benchmark (bench/memory-bench.ts)\n\n` +
  `Peak RSS (getrusage maxRSS) of one \`builder build --no-cache\` run in one process, measured ${new Date().toISOString().slice(0, 10)} on this machine ` +
  `(2 cores, Node ${process.version}). Target: ≤ 150 MiB for the 1 GB artifact and the 100 MB of output.\n\n` +
  `| case | exit | artifact bytes | compiler output bytes | peak RSS | vs baseline | wall time |\n|---|---|---|---|---|---|---|\n` +
  rows.join('\n') +
  '\n';
writeFileSync(join(ROOT, 'bench/results-memory.md'), text);
console.log(text);
