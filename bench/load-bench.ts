/**
 * Load benchmark: verify + load of a plugin through the host runtime (sealed memfd copy, and the
 * file fallback) vs sha256 of the same file + a bare koffi.load, for a 1 MB and a 10 MB .so; sha256 throughput of the runtime's hashing vs
 * sha256sum. Usage: npx tsx bench/load-bench.ts  (after scripts/setup.sh; writes bench/results-load.md)
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createKoffiLoader, createMemfdSyscalls } from '../src/runtime/koffi-native.js';
import { FileSealer } from '../src/runtime/file-sealer.js';
import { MemfdSealer } from '../src/runtime/memfd-sealer.js';
import { PluginHost } from '../src/runtime/plugin-host.js';
import { loadVerifiedPlugin } from '../src/runtime/load-plugin.js';
import { childProcessCanary } from '../src/runtime/child-canary.js';
import { parseLockfile, serializeLockfile } from '../src/lock/lockfile.js';

const ROOT = resolve(import.meta.dirname, '..');
const ROUNDS = 15;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/** Build a C plugin carrying `mb` MiB of initialised data, so the .so is that large. */
function buildBig(dir: string, mb: number): { so: Buffer; lock: ReturnType<typeof parseLockfile> } {
  const name = `big${mb}`;
  mkdirSync(join(dir, 'plugins', name), { recursive: true });
  writeFileSync(
    join(dir, 'plugins', name, `${name}.c`),
    `const char *builder_plugin_manifest(void) { return "{\\"name\\":\\"${name}\\",\\"version\\":\\"1\\",\\"functions\\":{\\"Get\\":\\"int Get(int i)\\"}}"; }\n` +
      `static const unsigned char blob[${mb} * 1024 * 1024] = { 1, 2, 3 };\n` +
      `int Get(int i) { return blob[i]; }\n`,
  );
  writeFileSync(join(dir, 'builder.config.json'), JSON.stringify({ host: { image: 'plugin-builder/example-host:bookworm' }, plugins: [{ name, kind: 'c', path: `plugins/${name}` }], outDir: 'out', lockfile: 'out/builder.lock.json' }));
  execFileSync('node', [join(ROOT, 'dist/builder.js'), 'build'], { cwd: dir, stdio: 'ignore' });
  return { so: readFileSync(join(dir, 'out', `lib${name}.so`)), lock: parseLockfile(readFileSync(join(dir, 'out/builder.lock.json'), 'utf8')) };
}

const rows: string[][] = [];
const koffi = await createKoffiLoader();
const memfd = await createMemfdSyscalls();
if (!memfd) throw new Error('memfd_create is not available here: the benchmark measures the memfd path');
const reused = Buffer.allocUnsafe(4 * 1024 * 1024);

/** The fastest sha256 of a file we know in Node: positional reads into a warm buffer. */
function hashFile(path: string): string {
  const fd = openSync(path, 'r');
  try {
    const hash = createHash('sha256');
    for (let n; (n = readSync(fd, reused, 0, reused.length, null)) > 0; ) hash.update(reused.subarray(0, n));
    return hash.digest('hex');
  } finally {
    closeSync(fd);
  }
}

for (const mb of [1, 10]) {
  const dir = mkdtempSync(join(tmpdir(), `pb-load-${mb}-`));
  const { so, lock } = buildBig(dir, mb);
  const name = `big${mb}`;
  const entry = lock.plugins[name]!;
  const series = { hash: [] as number[], naiveHash: [] as number[], bare: [] as number[], copy: [] as number[], memfd: [] as number[], file: [] as number[], open: [] as number[], onePass: [] as number[], canary: [] as number[] };
  const time = (into: number[], work: () => unknown) => {
    const t0 = performance.now();
    work();
    into.push(performance.now() - t0);
  };
  // Each series runs on its own, so one series' garbage (readFileSync's 10 MB buffers) is not
  // collected inside another's timings. dlopen of a path already open returns the old handle:
  // every round gets fresh paths.
  const rounds = Array.from({ length: ROUNDS }, (_, i) => {
    const round = join(dir, `round-${i}`);
    for (const sub of ['', 'memfd', 'file', 'canary']) mkdirSync(join(round, sub), { recursive: true });
    for (const sub of ['', 'memfd', 'file', 'canary']) writeFileSync(join(round, sub, `lib${name}.so`), so);
    writeFileSync(join(round, 'builder.lock.json'), serializeLockfile(lock));
    writeFileSync(join(round, 'bare.so'), so);
    return round;
  });
  for (const round of rounds) time(series.hash, () => hashFile(join(round, 'bare.so')));
  for (const round of rounds) time(series.bare, () => koffi.load(join(round, 'bare.so')));
  const signal = new AbortController().signal;
  for (const round of rounds) {
    const t0 = performance.now();
    const loaded = await loadVerifiedPlugin(join(round, 'memfd'), name, entry, new MemfdSealer(memfd), koffi, signal);
    series.memfd.push(performance.now() - t0);
    if (loaded.functions.get('Get')?.(0) !== 1) throw new Error('the plugin did not answer');
  }
  // The floor of any sealed copy: fresh memory pages for the bytes (an in-kernel copy).
  for (const round of rounds) {
    time(series.copy, () => {
      const fd = memfd.memfdCreate('bench');
      const src = openSync(join(round, 'bare.so'), 'r');
      for (let done = 0; done < so.length; ) done += memfd.sendfile(fd, src, so.length - done);
      closeSync(src);
      closeSync(fd);
    });
  }
  for (const round of rounds) {
    const t0 = performance.now();
    const loaded = await loadVerifiedPlugin(join(round, 'file'), name, entry, new FileSealer(round), koffi, signal);
    series.file.push(performance.now() - t0);
    if (loaded.functions.get('Get')?.(0) !== 1) throw new Error('the plugin did not answer');
  }
  for (const round of rounds) {
    const t0 = performance.now();
    const host = await PluginHost.open({ pluginDir: round, loader: koffi, sealer: new MemfdSealer(memfd), liveEnvironment: lock.host.fingerprint });
    series.open.push(performance.now() - t0);
    if (host.call(name, 'Get', [0]) !== 1) throw new Error('the plugin did not answer');
  }
  // The single-pass floor, as measured from outside: read the file once, sha256 what was read,
  // write it to a tmpfs file, bare load. No seal, and the hash is of the source, not of the copy.
  rounds.forEach((round, i) =>
    time(series.onePass, () => {
      const data = readFileSync(join(round, 'bare.so'));
      createHash('sha256').update(data).digest('hex');
      const copy = `/dev/shm/pb-floor-${process.pid}-${mb}-${i}.so`;
      writeFileSync(copy, data);
      koffi.load(copy);
      unlinkSync(copy);
    }),
  );
  // Verify + load with the canary of builder host: the same sealed bytes loaded first in a child (node dist/builder.js canary --fd 3).
  const canary = childProcessCanary([process.execPath, join(ROOT, 'dist/builder.js')]);
  for (const round of rounds) {
    const t0 = performance.now();
    await loadVerifiedPlugin(join(round, 'canary'), name, entry, new MemfdSealer(memfd), koffi, signal, canary);
    series.canary.push(performance.now() - t0);
  }
  for (const round of rounds) time(series.naiveHash, () => createHash('sha256').update(readFileSync(join(round, 'bare.so'))).digest('hex'));
  const m = Object.fromEntries(Object.entries(series).map(([k, v]) => [k, median(v)])) as Record<keyof typeof series, number>;
  const baseline = Math.min(m.hash, m.naiveHash) + m.bare;
  const ms = (x: number) => `${x.toFixed(2)} ms`;
  rows.push([
    `${(so.length / 1048576).toFixed(1)} MB`,
    `${ms(m.hash)} (readFileSync: ${ms(m.naiveHash)})`,
    ms(m.bare),
    ms(baseline),
    ms(m.copy),
    ms(m.memfd),
    `**${(m.memfd / baseline).toFixed(2)}×**`,
    `${(m.memfd / (baseline + m.copy)).toFixed(2)}×`,
    `${ms(m.file)} (${(m.file / baseline).toFixed(2)}×)`,
    ms(m.open),
    `${ms(m.onePass)} (${(m.memfd / m.onePass).toFixed(2)}×)`,
    `${ms(m.canary)} (+${ms(m.canary - m.memfd)})`,
  ]);
}

// sha256 throughput: the runtime hashes with node:crypto over the bytes it read.
const big = Buffer.alloc(256 * 1024 * 1024, 7);
const file = join(mkdtempSync(join(tmpdir(), 'pb-sha-')), 'blob');
writeFileSync(file, big);
const t0 = performance.now();
createHash('sha256').update(readFileSync(file)).digest('hex');
const nodeSeconds = (performance.now() - t0) / 1000;
const t1 = performance.now();
execFileSync('sha256sum', [file]);
const sumSeconds = (performance.now() - t1) / 1000;

const text =
  `# Load benchmark (${new Date().toISOString().slice(0, 10)}, median of ${ROUNDS}, one run)\n\n` +
  `Per plugin: verify + load = open (O_NOFOLLOW|O_NONBLOCK, fstat) + sealed memfd copy + sha256 of the sealed bytes + dlopen + manifest and binding ` +
  `(\`loadVerifiedPlugin\`). Baseline = sha256 of the same file (the faster of a warm-buffer read loop and readFileSync) + a bare koffi.load. ` +
  `"Copy floor" = sendfile of the bytes into a fresh memfd alone: what any sealed in-memory copy costs. ` +
  `"Single-pass floor" = read the file once, sha256 the bytes read, write them to a tmpfs file, bare koffi.load (in parentheses: verify + load over it). ` +
  `"With canary" = verify + load with builder host's canary: the sealed copy loaded first in a child \`node dist/builder.js canary --fd 3\` (in parentheses: what the canary adds).\n\n` +
  `| .so size | sha256 of the file | bare koffi.load | baseline | copy floor | verify + load (memfd) | vs baseline | vs baseline + copy floor | file fallback | whole PluginHost.open | single-pass floor | with canary |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n` +
  rows.map((r) => `| ${r.join(' | ')} |`).join('\n') +
  `\n\nsha256 of a 256 MiB file: read + node:crypto ${(256 / nodeSeconds).toFixed(0)} MiB/s, sha256sum ${(256 / sumSeconds).toFixed(0)} MiB/s.\n`;
writeFileSync(join(ROOT, 'bench/results-load.md'), text);
console.log(text);
