/**
 * Start-up and fixed overhead, in one run (medians of ROUNDS, interleaved):
 *   - `builder --version`, `builder schema`, `builder --help`, `builder plan` on an unchanged project
 *     against `node -e 0` (Node's own start-up);
 *   - a one-plugin C build whose source changed (so one compile runs) against one `docker run` of
 *     the same compile in the same builder image (bind mount, --network none): the difference is
 *     the tool's fixed overhead.
 * Also: what the same code costs to load as separate modules (tsc's output, which the library
 * entry points still are), against the one bundled file the `builder` command is.
 * Usage: npx tsx bench/startup-bench.ts   (after scripts/setup.sh; writes bench/results-startup.md)
 */
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist/builder.js');
const HOST = 'plugin-builder/example-host:bookworm';
const ROUNDS = 11;

function timed(cmd: string, args: string[], cwd: string): number {
  const t0 = performance.now();
  execFileSync(cmd, args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  return (performance.now() - t0) / 1000;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
const ms = (s: number) => `${(s * 1000).toFixed(0)} ms`;

function main(): void {
  const dir = mkdtempSync(join(tmpdir(), 'pb-bench-startup-'));
  mkdirSync(join(dir, 'plugins/p'), { recursive: true });
  writeFileSync(join(dir, 'builder.config.json'), JSON.stringify({ host: { image: HOST }, plugins: [{ name: 'p', kind: 'c', path: 'plugins/p' }] }));
  const source = join(dir, 'plugins/p/p.c');
  // With the runtime's manifest: the build's proof loads it in the (Node) host image.
  writeFileSync(source, 'const char *builder_plugin_manifest(void) { return "{\\"name\\":\\"p\\",\\"version\\":\\"1\\",\\"functions\\":{\\"p_add\\":\\"int p_add(int a, int b)\\"}}"; }\nint p_add(int a, int b) { return a + b; }\n');
  execFileSync('node', [CLI, 'build', '--no-cache', '--progress', 'quiet'], { cwd: dir, stdio: 'ignore' });
  const builder = (JSON.parse(readFileSync(join(dir, 'builder.lock.json'), 'utf8')) as { builder: { image: string } }).builder.image;

  const rows: Record<string, number[]> = { 'node -e 0': [], 'builder --version': [], 'builder schema': [], 'builder --help': [], 'builder plan (unchanged)': [], 'builder build (1 C plugin, changed)': [], 'builder build --no-prove (1 C plugin, changed)': [], 'docker run of the same compile': [] };
  for (let round = 0; round < ROUNDS; round++) {
    rows['node -e 0']!.push(timed('node', ['-e', '0'], dir));
    rows['builder --version']!.push(timed('node', [CLI, '--version'], dir));
    rows['builder schema']!.push(timed('node', [CLI, 'schema'], dir));
    rows['builder --help']!.push(timed('node', [CLI, '--help'], dir));
    rows['builder plan (unchanged)']!.push(timed('node', [CLI, 'plan'], dir));
    appendFileSync(source, `int round_${round};\n`);
    rows['builder build (1 C plugin, changed)']!.push(timed('node', [CLI, 'build', '--no-cache', '--progress', 'quiet'], dir));
    appendFileSync(source, `int unproven_${round};\n`);
    rows['builder build --no-prove (1 C plugin, changed)']!.push(timed('node', [CLI, 'build', '--no-cache', '--no-prove', '--progress', 'quiet'], dir));
    appendFileSync(source, `int again_${round};\n`);
    rows['docker run of the same compile']!.push(timed('docker', ['run', '--rm', '--network', 'none', '-v', `${join(dir, 'plugins/p')}:/src:ro`, '-w', '/src', builder, 'gcc', '-shared', '-fPIC', '-O2', '-o', '/tmp/p.so', 'p.c'], dir));
  }
  const imports = execFileSync('node', ['--input-type=module', '-e', `
    const t = () => performance.now(); let a = t();
    (await import(${JSON.stringify(join(ROOT, 'dist/docker/load-dockerode.js'))})).loadDockerode(); const dockerode = t() - a; a = t();
    await import('zod'); const zod = t() - a; a = t();
    await import(${JSON.stringify(join(ROOT, 'dist/build/build-project.js'))}); const build = t() - a; a = t();
    await import(${JSON.stringify(join(ROOT, 'dist/cli/connect-engine.js'))}); const engine = t() - a;
    console.log(JSON.stringify({ dockerode, zod, build, engine }));`], { encoding: 'utf8' });
  const cost = JSON.parse(imports) as Record<string, number>;
  rmSync(dir, { recursive: true, force: true });

  const overhead = median(rows['builder build (1 C plugin, changed)']!) - median(rows['docker run of the same compile']!);
  const overheadUnproven = median(rows['builder build --no-prove (1 C plugin, changed)']!) - median(rows['docker run of the same compile']!);
  const table = ['| what | median wall time |', '| --- | --- |', ...Object.entries(rows).map(([k, v]) => `| ${k} | ${ms(median(v))} |`)].join('\n');
  const cpu = execFileSync('sh', ['-c', "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], { encoding: 'utf8' }).trim();
  const text =
    `# Start-up benchmark (${new Date().toISOString().slice(0, 10)}, ${cpu}, ${execFileSync('nproc', { encoding: 'utf8' }).trim()} cores, Node ${process.version})\n\n` +
    `Medians of ${ROUNDS} interleaved rounds; builder image ${builder}.\n\n${table}\n\n` +
    `Fixed overhead of a one-plugin build over one \`docker run\` of its compile: **${ms(overhead)}** with the proof (one more container, of the host image, running its Node runtime), **${ms(overheadUnproven)}** with \`--no-prove\`.\n\n` +
    `The command is one bundled file, dist/builder.js (${(statSync(CLI).size / 1024).toFixed(0)} KiB, tools/bundle-cli.mjs). The same code as separate modules (tsc's output, ` +
    `first import in one process) would cost: dockerode without its BuildKit modules ${ms(cost.dockerode! / 1000)}, zod ${ms(cost.zod! / 1000)}, ` +
    `the build modules after those ${ms(cost.build! / 1000)}, the engine module after those ${ms(cost.engine! / 1000)}.\n`;
  writeFileSync(join(ROOT, 'bench/results-startup.md'), text);
  console.log(text);
}

main();
