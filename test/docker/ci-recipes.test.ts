import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseLockfile } from '../../src/lock/lockfile.js';
import { HOST_BOOKWORM, requireDocker, skipDocker } from '../helpers/docker.js';
import { generateProject } from '../helpers/generate-project.js';
import { cli, REPO } from '../helpers/project.js';
import { REGISTRY, requireRegistry, skipRegistry } from '../helpers/registry.js';

interface RecipeCommand {
  job: string;
  line: string;
}

/** The `npx builder …` lines of a CI file, in file order, with the job each belongs to (the last `prepare:`, `build:` or `merge:` line at indent 0 or 2). */
function builderCommands(yaml: string): RecipeCommand[] {
  const commands: RecipeCommand[] = [];
  let job = '';
  for (const raw of yaml.split('\n')) {
    const header = /^ {0,2}([a-z][a-z-]*):\s*$/.exec(raw);
    if (header && ['prepare', 'build', 'merge'].includes(header[1]!)) job = header[1]!;
    const m = /^\s*-\s+(?:run:\s+)?npx builder (.+)$/.exec(raw);
    if (m) commands.push({ job, line: m[1]! });
  }
  return commands;
}

/** Shell words of a line without globs or command substitution: double quotes and $VAR / ${VAR}. */
function words(line: string, vars: Record<string, string>): string[] {
  const expanded = line.replace(/\$\{\{\s*matrix\.shard\s*\}\}/g, vars.SHARD ?? '').replace(/\$\{?([A-Z_]+)\}?/g, (_, name: string) => vars[name] ?? '');
  return [...expanded.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

/** What sh does with `shards/*\/builder.lock.json`: the matching paths, sorted. */
async function glob(cwd: string, pattern: string): Promise<string[]> {
  const [dir, star, file] = pattern.split('/') as [string, string, string];
  if (star !== '*') return [pattern];
  const entries = (await readdir(join(cwd, dir))).sort();
  return entries.map((e) => `${dir}/${e}/${file}`);
}

async function run(cwd: string, argv: string[]): Promise<void> {
  const expanded = (await Promise.all(argv.map((a) => (a.includes('*') ? glob(cwd, a) : [a])))).flat();
  const result = await cli(cwd, expanded);
  expect(result.code, `builder ${expanded.join(' ')}\n${result.stderr}${result.stdout}`).toBe(0);
}

const RECIPES = [
  // How each recipe carries a shard's dist/plugins to the merge job (upload/download-artifact; cp into artifacts).
  { file: 'examples/ci/github-actions.yml', vars: (k: number) => ({ SHARD: String(k) }), shardDir: (k: number) => `shards/shard-${k}`, carries: ['name: shard-${{ matrix.shard }}', 'path: dist/plugins/', 'pattern: shard-*', 'path: shards/'] },
  { file: 'examples/ci/gitlab-ci.yml', vars: (k: number) => ({ CI_NODE_INDEX: String(k), CI_NODE_TOTAL: '3' }), shardDir: (k: number) => `shards/${k}`, carries: ['cp dist/plugins/* "shards/$CI_NODE_INDEX/"', 'paths: [shards/]'] },
];

describe.skipIf(skipDocker || skipRegistry)('the CI recipes in examples/ci, run locally: 3 shards + merge == one build, byte for byte', () => {
  let template: string;
  let reference: { lock: string; files: Record<string, Buffer> };

  beforeAll(async () => {
    await requireDocker();
    requireRegistry();
    template = await mkdtemp(join(tmpdir(), 'pb-ci-template-'));
    await generateProject(template, { c: 3, go: 2 }, HOST_BOOKWORM);
    const single = await copyOf(template);
    const build = await cli(single, ['build']);
    expect(build.code, build.stderr).toBe(0);
    reference = await outputs(single);
  });

  async function copyOf(dir: string): Promise<string> {
    const copy = await mkdtemp(join(tmpdir(), 'pb-ci-runner-'));
    await cp(dir, copy, { recursive: true });
    return copy;
  }

  async function outputs(dir: string): Promise<{ lock: string; files: Record<string, Buffer> }> {
    const lock = await readFile(join(dir, 'dist/plugins/builder.lock.json'), 'utf8');
    const files: Record<string, Buffer> = {};
    for (const entry of Object.values(parseLockfile(lock).plugins)) files[entry.file] = await readFile(join(dir, 'dist/plugins', entry.file));
    return { lock, files };
  }

  for (const recipe of RECIPES) {
    it(`${recipe.file}: prepare → build ×3 (--shard K/3) → lock merge → sign`, async () => {
      const text = await readFile(join(REPO, recipe.file), 'utf8');
      for (const carry of recipe.carries) expect(text).toContain(carry);
      const commands = builderCommands(text);
      expect(commands.map((c) => `${c.job}: ${c.line.split(' ')[0]}`)).toEqual(['prepare: prepare', 'build: build', 'merge: lock', 'merge: sign']);
      const cache = `${REGISTRY}/pb-test/ci-cache-${randomBytes(4).toString('hex')}`;

      // Every job on its own "runner": a fresh checkout of the project.
      const prepare = await copyOf(template);
      for (const c of commands.filter((c) => c.job === 'prepare')) await run(prepare, words(c.line, { CACHE: cache }));

      const merge = await copyOf(template);
      for (let k = 1; k <= 3; k++) {
        const runner = await copyOf(template);
        for (const c of commands.filter((c) => c.job === 'build')) await run(runner, words(c.line, { CACHE: cache, ...recipe.vars(k) }));
        const shardLock = parseLockfile(await readFile(join(runner, 'dist/plugins/builder.lock.json'), 'utf8'));
        expect(shardLock.shard).toMatchObject({ index: k, count: 3 });
        expect(Object.keys(shardLock.plugins).length).toBe(k === 3 ? 1 : 2);
        if (k === 1) {
          const deploy = await cli(runner, ['deploy', '--tag', 'pb-test/never-made:shard']);
          expect(deploy.code).toBe(2);
          expect(deploy.stderr).toContain('is the lockfile of shard 1/3: it holds 2 of the project\'s 5 plugins.');
        }
        await mkdir(join(merge, recipe.shardDir(k)), { recursive: true });
        await cp(join(runner, 'dist/plugins'), join(merge, recipe.shardDir(k)), { recursive: true });
      }

      const keygen = await cli(merge, ['keygen', '--name', 'ci']);
      expect(keygen.code, keygen.stderr).toBe(0);
      const mergeCommands = commands.filter((c) => c.job === 'merge');
      await run(merge, words(mergeCommands[0]!.line, {}));
      const merged = await outputs(merge);
      expect(merged.lock).toBe(reference.lock);
      expect(Object.keys(merged.files).sort()).toEqual(Object.keys(reference.files).sort());
      for (const [file, bytes] of Object.entries(reference.files)) expect(merged.files[file]!.equals(bytes), file).toBe(true);

      await writeFile(join(merge, 'signing.key'), await readFile(join(merge, 'ci.key')), { mode: 0o600 });
      await run(merge, words(mergeCommands[1]!.line, {}));
      await expect(readFile(join(merge, 'dist/plugins/builder.lock.json.sig'), 'utf8')).resolves.toContain('payloadType');
    }, 600_000);
  }
});
