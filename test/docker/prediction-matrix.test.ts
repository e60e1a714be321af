import { createHash } from 'node:crypto';
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseLockfile, type Lockfile } from '../../src/lock/lockfile.js';
import { HOST_BOOKWORM, HOST_MUSL, HOST_NOZLIB, HOST_TRIXIE, requireDocker, skipDocker } from '../helpers/docker.js';
import { runWithFile } from '../helpers/images.js';
import { cli, copyProject } from '../helpers/project.js';
import { flipByte } from '../helpers/bytes.js';

type Project = 'bookworm' | 'trixie' | 'musl';

interface Cell {
  what: string;
  project: Project;
  plugin: string;
  host: string;
  /** How the host really loads: Node + koffi (the runtime's loader) or a C program's dlopen. */
  loader: 'koffi' | 'dlopen';
  tamper?: boolean;
  /** What reality is known to say (asserted too, so both sides can't be wrong together). */
  loads: boolean;
}

const CELLS: Cell[] = [
  { what: 'strlcpy C built on trixie → bookworm host', project: 'trixie', plugin: 'strl', host: HOST_BOOKWORM, loader: 'koffi', loads: false },
  { what: 'plain C built on bookworm → trixie host', project: 'bookworm', plugin: 'plain', host: HOST_TRIXIE, loader: 'koffi', loads: true },
  { what: 'C linking zlib → host without zlib', project: 'bookworm', plugin: 'zlib', host: HOST_NOZLIB, loader: 'dlopen', loads: false },
  { what: 'C linking zlib → bookworm host (control)', project: 'bookworm', plugin: 'zlib', host: HOST_BOOKWORM, loader: 'koffi', loads: true },
  { what: 'musl-built C → glibc host', project: 'musl', plugin: 'plain', host: HOST_BOOKWORM, loader: 'koffi', loads: false },
  { what: 'glibc-built C using a glibc-only symbol → musl host', project: 'bookworm', plugin: 'glibconly', host: HOST_MUSL, loader: 'dlopen', loads: false },
  { what: "glibc-built plain C → musl host (musl's glibc compatibility)", project: 'bookworm', plugin: 'plain', host: HOST_MUSL, loader: 'dlopen', loads: true },
  { what: 'musl-built C → musl host (control)', project: 'musl', plugin: 'plain', host: HOST_MUSL, loader: 'dlopen', loads: true },
  { what: 'C calling cos() without -lm → Node host (node already loaded libm)', project: 'bookworm', plugin: 'cosine', host: HOST_BOOKWORM, loader: 'koffi', loads: true },
  { what: 'C calling cos() without -lm → C host (dlopen-check loads only libc)', project: 'bookworm', plugin: 'cosine', host: HOST_NOZLIB, loader: 'dlopen', loads: false },
  { what: 'C++ with <iostream> built on trixie (g++ 14) → bookworm host', project: 'trixie', plugin: 'cxx', host: HOST_BOOKWORM, loader: 'koffi', loads: false },
  // Static libstdc++ removes the GLIBCXX need, but trixie's libstdc++.a itself calls glibc 2.38
  // functions (the C23 __isoc23_strto* family), so it still cannot load on glibc 2.36.
  { what: 'the same C++ with static libstdc++ → bookworm host', project: 'trixie', plugin: 'cxxstatic', host: HOST_BOOKWORM, loader: 'koffi', loads: false },
  { what: 'the same C++ with static libstdc++ → trixie host (control)', project: 'trixie', plugin: 'cxxstatic', host: HOST_TRIXIE, loader: 'koffi', loads: true },
  { what: 'C++ with <iostream> built on trixie → trixie host (control)', project: 'trixie', plugin: 'cxx', host: HOST_TRIXIE, loader: 'koffi', loads: true },
  { what: 'C linked with -z execstack → bookworm host (glibc 2.36 makes the stack executable)', project: 'bookworm', plugin: 'execstack', host: HOST_BOOKWORM, loader: 'koffi', loads: true },
  { what: 'C linked with -z execstack → trixie host (glibc 2.41 refuses)', project: 'bookworm', plugin: 'execstack', host: HOST_TRIXIE, loader: 'koffi', loads: false },
  { what: 'one tampered byte → bookworm host', project: 'bookworm', plugin: 'plain', host: HOST_BOOKWORM, loader: 'koffi', tamper: true, loads: false },
];

const FIXTURES: Record<Project, string> = {
  bookworm: 'test/fixtures/matrix-bookworm',
  trixie: 'test/fixtures/matrix-trixie',
  musl: 'test/fixtures/matrix-musl',
};

const KOFFI_LOAD =
  "try { require('/app/node_modules/koffi').load(process.argv[1]); console.log('loaded') } catch (e) { console.error(e.message); process.exit(1) }";

describe.skipIf(skipDocker)('prediction matrix: verify predicts what the host loader really does (real engine)', () => {
  const built = {} as Record<Project, { dir: string; lock: Lockfile }>;

  beforeAll(async () => {
    await requireDocker();
    for (const project of Object.keys(FIXTURES) as Project[]) {
      const root = await copyProject(FIXTURES[project]);
      const run = await cli(root, ['build']);
      expect(run.code, `${project}: ${run.stderr}`).toBe(0);
      const dir = join(root, 'dist/plugins');
      built[project] = { dir, lock: parseLockfile(await readFile(join(dir, 'builder.lock.json'), 'utf8')) };
    }
  });

  it('every cell agrees', async () => {
    const rows: string[][] = [['cell', 'predicted', 'real', 'why (prediction)', 'loader said']];
    const disagreements: string[] = [];
    for (const cell of CELLS) {
      const { dir, lock } = built[cell.project];
      const entry = lock.plugins[cell.plugin]!;
      const bytes = await readFile(join(dir, entry.file));
      if (cell.tamper) flipByte(bytes, -64);

      // Prediction: builder verify against the host image, for exactly these bytes.
      const verifyDir = cell.tamper ? await copyTampered(dir, entry.file, bytes) : dir;
      const verify = await cli(verifyDir, ['verify', '--image', cell.host, '--dir', verifyDir, '--json']);
      expect([0, 1], verify.stderr || verify.stdout).toContain(verify.code);
      const report = JSON.parse(verify.stdout) as { plugins: Array<{ name: string; bytes: string; loadable: boolean | null; problems: Array<{ check: string; message: string }> }> };
      const verdict = report.plugins.find((p) => p.name === cell.plugin)!;
      const predicted = verdict.bytes === 'ok' && verdict.loadable === true;
      const why = verdict.problems.filter((p) => p.check !== 'environment').map((p) => `${p.check}: ${p.message}`).join('; ') || 'ok';

      // Reality: the locked hash of the exact bytes, then a real dlopen in that host.
      const hashOk = createHash('sha256').update(bytes).digest('hex') === entry.sha256;
      const path = `/app/plugins/${entry.file}`;
      const load = await runWithFile(cell.host, { path, data: bytes }, cell.loader === 'koffi' ? ['node', '-e', KOFFI_LOAD, path] : ['/usr/local/bin/dlopen-check', path]);
      const real = hashOk && load.exitCode === 0;

      rows.push([cell.what, predicted ? 'loads' : 'fails', real ? 'loads' : 'fails', why, hashOk ? load.output : `hash mismatch (dlopen: ${load.output})`]);
      if (predicted !== real) disagreements.push(cell.what);
      expect(real, `${cell.what}: reality (${load.output})`).toBe(cell.loads);
    }
    const widths = rows[0]!.map((_, i) => Math.min(60, Math.max(...rows.map((r) => r[i]!.length))));
    console.log('\n' + rows.map((r) => r.map((c, i) => c.slice(0, 60).padEnd(widths[i]!)).join(' | ')).join('\n') + '\n');
    expect(disagreements).toEqual([]);
  }, 300_000);
});

async function copyTampered(dir: string, file: string, bytes: Buffer): Promise<string> {
  const copy = await mkdtemp(join(tmpdir(), 'pb-tampered-'));
  await cp(dir, copy, { recursive: true });
  await writeFile(join(copy, file), bytes);
  return copy;
}
