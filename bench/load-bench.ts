/**
 * Load benchmark: verify + load of a plugin through the host runtime vs a bare koffi.load of the
 * same bytes, for a 1 MB and a 10 MB .so; sha256 throughput of the runtime's hashing vs
 * sha256sum. Usage: npx tsx bench/load-bench.ts  (after scripts/setup.sh; writes bench/results-load.md)
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createKoffiLoader } from '../src/runtime/koffi-native.js';
import { PluginHost } from '../src/runtime/plugin-host.js';
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
  execFileSync('node', [join(ROOT, 'dist/cli/main.js'), 'build'], { cwd: dir, stdio: 'ignore' });
  return { so: readFileSync(join(dir, 'out', `lib${name}.so`)), lock: parseLockfile(readFileSync(join(dir, 'out/builder.lock.json'), 'utf8')) };
}

const rows: string[][] = [];
const koffi = await createKoffiLoader();
for (const mb of [1, 10]) {
  const dir = mkdtempSync(join(tmpdir(), `pb-load-${mb}-`));
  const { so, lock } = buildBig(dir, mb);
  const name = `big${mb}`;
  // dlopen of a path already open returns the old handle: every round gets fresh paths.
  const bare: number[] = [];
  const verified: number[] = [];
  const hashOnly: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const barePath = join(dir, `bare-${i}.so`);
    writeFileSync(barePath, so);
    const t0 = performance.now();
    koffi.load(barePath).func('int Get(int i)')(0);
    bare.push(performance.now() - t0);

    const th = performance.now();
    createHash('sha256').update(readFileSync(barePath)).digest('hex');
    hashOnly.push(performance.now() - th);

    const pluginDir = join(dir, `deploy-${i}`);
    mkdirSync(pluginDir);
    copyFileSync(join(dir, 'out', `lib${name}.so`), join(pluginDir, `lib${name}.so`));
    writeFileSync(join(pluginDir, 'builder.lock.json'), serializeLockfile(lock));
    const t1 = performance.now();
    const host = await PluginHost.open({ pluginDir, loader: koffi, liveEnvironment: lock.host.fingerprint });
    host.call(name, 'Get', [0]);
    verified.push(performance.now() - t1);
    await host.close();
  }
  const b = median(bare);
  const v = median(verified);
  rows.push([`${(so.length / 1048576).toFixed(1)} MB`, `${b.toFixed(2)} ms`, `${v.toFixed(2)} ms`, `${(v / b).toFixed(2)}×`, `${median(hashOnly).toFixed(2)} ms`]);
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
  `# Load benchmark (${new Date().toISOString().slice(0, 10)}, median of ${ROUNDS})\n\n` +
  `| .so size | bare koffi.load | verify + load (PluginHost) | ratio | read + sha256 alone |\n| --- | --- | --- | --- | --- |\n` +
  rows.map((r) => `| ${r.join(' | ')} |`).join('\n') +
  `\n\nsha256 of a 256 MiB file: read + node:crypto ${(256 / nodeSeconds).toFixed(0)} MiB/s, sha256sum ${(256 / sumSeconds).toFixed(0)} MiB/s (${(sumSeconds / nodeSeconds).toFixed(2)}× sha256sum's time ratio).\n`;
writeFileSync(join(ROOT, 'bench/results-load.md'), text);
console.log(text);
