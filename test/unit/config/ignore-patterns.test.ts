import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { collectPluginSources } from '../../../src/building/collect-plugin-sources.js';
import { isIgnored, parseIgnoreFile, parseIgnoreRule } from '../../../src/config/ignore-patterns.js';
import type { PluginConfig } from '../../../src/config/config.js';

const rules = (text: string) => parseIgnoreFile(text);

describe('exclude patterns and .builderignore (gitignore rules)', () => {
  it.each<[string, string, boolean, boolean]>([
    ['*.o', 'a/b/x.o', false, true],
    ['*.o', 'x.c', false, false],
    ['/build', 'build', true, true],
    ['/build', 'src/build', true, false],
    ['build/', 'src/build', true, true],
    ['build/', 'src/build', false, false],
    ['docs/*.md', 'docs/a.md', false, true],
    ['docs/*.md', 'docs/sub/a.md', false, false],
    ['**/test', 'a/b/test', true, true],
    ['a/**/b', 'a/b', false, true],
    ['a/**/b', 'a/x/y/b', false, true],
    ['vendor/**', 'vendor/x/y.c', false, true],
    ['fil?.c', 'file.c', false, true],
    ['[ab].c', 'c.c', false, false],
    ['[!ab].c', 'c.c', false, true],
    ['\\#hash', '#hash', false, true],
  ])('%s on %s (directory: %s) → %s', (pattern, path, dir, expected) => {
    expect(isIgnored(path, dir, rules(pattern))).toBe(expected);
  });

  it('the last matching line wins; ! takes a file back; comments and blanks are nothing', () => {
    const r = rules('# generated\n\n*.txt\n!keep.txt\n');
    expect(isIgnored('notes.txt', false, r)).toBe(true);
    expect(isIgnored('keep.txt', false, r)).toBe(false);
    expect(() => parseIgnoreRule('[z-a].c')).toThrow(/is not a valid pattern/);
  });

  it("fuzz: the same verdicts as git's own check-ignore, on generated patterns and paths", async () => {
    const repo = await mkdtemp(join(tmpdir(), 'pb-gitignore-'));
    execFileSync('git', ['init', '-q', repo]);
    const segment = fc.constantFrom('a', 'b', 'x.c', 'x.o', 'build', 'doc');
    const patternPart = fc.constantFrom('a', 'b', '*', '*.c', '*.o', 'build', '**', '?', 'x.*', '[ab]', 'doc');
    const pattern = fc
      .tuple(fc.boolean(), fc.boolean(), fc.array(patternPart, { minLength: 1, maxLength: 3 }), fc.boolean())
      .map(([negate, lead, parts, trail]) => `${negate ? '!' : ''}${lead ? '/' : ''}${parts.join('/')}${trail ? '/' : ''}`);
    await fc.assert(
      fc.asyncProperty(fc.array(pattern, { minLength: 1, maxLength: 4 }), fc.uniqueArray(fc.array(segment, { minLength: 1, maxLength: 3 }).map((s) => s.join('/')), { minLength: 1, maxLength: 6 }), async (patterns, paths) => {
        await writeFile(join(repo, '.gitignore'), `${patterns.join('\n')}\n`);
        const ours = rules(patterns.join('\n'));
        // Files only, and paths whose parents are not themselves ignored (we never walk into those; git reports them ignored too).
        const candidates = paths.filter((p) => {
          const parts = p.split('/');
          return parts.slice(0, -1).every((_, i) => !isIgnored(parts.slice(0, i + 1).join('/'), true, ours));
        });
        if (candidates.length === 0) return;
        let out = '';
        try {
          out = execFileSync('git', ['-C', repo, 'check-ignore', '--no-index', '--verbose', '--non-matching', '--stdin'], { input: candidates.join('\n'), encoding: 'utf8' });
        } catch (err) {
          out = (err as { stdout: string }).stdout;
        }
        for (const line of out.trim().split('\n')) {
          const [source, path] = line.split('\t') as [string, string];
          // "::" = no pattern matched; a matching "!" pattern means not ignored.
          const gitIgnored = source !== '::' && !/^\.gitignore:\d+:!/.test(source);
          expect(isIgnored(path, false, ours), `${patterns.join(' | ')} on ${path}: git says ${source}`).toBe(gitIgnored);
        }
      }),
      { numRuns: 150 },
    );
  }, 60_000);

  it('on disk: excluded directories are not walked (their links and FIFOs never matter), excluded files not hashed; .builderignore must be a regular file', async () => {
    const project = await mkdtemp(join(tmpdir(), 'pb-exclude-'));
    const dir = join(project, 'plugins/p');
    await mkdir(join(dir, 'node_modules/deep'), { recursive: true });
    await writeFile(join(dir, 'main.c'), 'int x;');
    await writeFile(join(dir, 'notes.txt'), 'n');
    await symlink('/etc/passwd', join(dir, 'node_modules/deep/link'));
    execFileSync('mkfifo', [join(dir, 'node_modules/fifo')]);
    await writeFile(join(dir, '.builderignore'), 'node_modules/\n');
    const plugin: PluginConfig = { name: 'p', kind: 'c', dir, path: 'plugins/p', cflags: [], cxxflags: [], staticLibstdcxx: false, libs: [], exclude: ['*.txt'] };
    const { files } = await collectPluginSources(plugin, project);
    expect(files.map((f) => f.path)).toEqual(['plugins/p/main.c']);
    await expect(collectPluginSources({ ...plugin, exclude: ['*'] }, project)).rejects.toThrow(/has no source files .* once its exclude patterns are applied/);
    await expect(collectPluginSources({ ...plugin, exclude: [] }, project).then(() => 'ok', (e: Error) => e.message)).resolves.toBe('ok');
    const other = await mkdtemp(join(tmpdir(), 'pb-exclude-'));
    await mkdir(join(other, 'plugins/p'), { recursive: true });
    await writeFile(join(other, 'plugins/p/main.c'), 'int x;');
    execFileSync('mkfifo', [join(other, 'plugins/p/.builderignore')]);
    await expect(collectPluginSources({ ...plugin, dir: join(other, 'plugins/p') }, other)).rejects.toThrow(/\.builderignore is not a regular file/);
  });
});
