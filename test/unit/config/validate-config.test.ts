import { mkdir, mkdtemp, realpath, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { suggestKey } from '../../../src/config/config-issues.js';
import { loadConfig } from '../../../src/config/load-config.js';
import { checkConfig, validateConfig } from '../../../src/config/validate-config.js';
import { ConfigError } from '../../../src/errors.js';

const valid = () => ({
  host: { image: 'host:1' },
  plugins: [
    { name: 'greet', kind: 'c', path: 'plugins/greet' },
    { name: 'shout', kind: 'go-c-shared', path: 'plugins/shout' },
  ],
});

function issues(raw: unknown): Array<{ field: string; message: string }> {
  try {
    validateConfig(raw, '/project');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return [...(err as ConfigError).issues];
  }
  throw new Error('expected a ConfigError');
}

describe('validateConfig', () => {
  it('resolves paths and fills defaults', () => {
    const config = validateConfig(valid(), '/project');
    expect(config.hostImage).toBe('host:1');
    expect(config.plugins.map((p) => p.dir)).toEqual(['/project/plugins/greet', '/project/plugins/shout']);
    expect(config.outDir).toBe('/project/dist/plugins');
    expect(config.lockfile).toBe('/project/builder.lock.json');
    expect(config.sourceDateEpoch).toBe(0);
    expect(config.builderBase).toBeUndefined();
  });

  it('names a missing field', () => {
    expect(issues({ plugins: valid().plugins })).toContainEqual({ field: 'host', message: 'is required' });
    expect(issues({ host: {}, plugins: valid().plugins })).toContainEqual({ field: "host.image", message: "is required (or host.platforms, one image per platform)" });
  });

  it('names an unknown kind and lists the known ones', () => {
    const raw = valid();
    raw.plugins[0]!.kind = 'rust';
    const [issue] = issues(raw);
    expect(issue?.field).toBe('plugins[0].kind');
    expect(issue?.message).toBe('unknown kind "rust"; expected one of c, cpp, go-c-shared, go-plugin');
  });

  it('refuses paths outside the project, relative or absolute', () => {
    const raw = valid();
    raw.plugins[0]!.path = '../outside';
    raw.plugins[1]!.path = '/etc';
    const found = issues(raw).map((i) => i.field);
    expect(found).toEqual(['plugins[0].path', 'plugins[1].path']);
  });

  it('refuses duplicate names, pointing at the first one', () => {
    const raw = valid();
    raw.plugins[1]!.name = 'greet';
    expect(issues(raw)).toEqual([{ field: 'plugins[1].name', message: 'duplicate plugin name "greet" (also plugins[0].name)' }]);
  });

  it('reports several problems at once', () => {
    const found = issues({ host: { image: '' }, plugins: [{ name: '-bad', kind: 'c' }], builder: { packages: ['-o evil'] } });
    const fields = found.map((i) => i.field).sort();
    expect(fields).toEqual(['builder.packages[0]', 'host.image', 'plugins[0].name', 'plugins[0].path']);
  });

  it('refuses misspelled keys at every level, suggesting the right one', () => {
    const raw = { ...valid(), outdir: 'out', builder: { pakages: ['zlib1g-dev'] }, host: { image: 'h', Binary: '/x' } } as Record<string, unknown>;
    (raw.plugins as Array<Record<string, unknown>>)[0]!.cflag = ['-O2'];
    (raw.plugins as Array<Record<string, unknown>>)[1]!.lib = ['-lz'];
    (raw.plugins as Array<Record<string, unknown>>)[1]!.colour = 'red';
    const found = issues(raw);
    const byField = Object.fromEntries(found.map((i) => [i.field, i.message]));
    expect(byField.outdir).toMatch(/^unknown key; did you mean "outDir"\?/);
    expect(byField['builder.pakages']).toMatch(/did you mean "packages"/);
    expect(byField['host.Binary']).toMatch(/did you mean "binary"/);
    expect(byField['plugins[0].cflag']).toMatch(/did you mean "cflags"/);
    expect(byField['plugins[1].lib']).toMatch(/did you mean "libs"/);
    expect(byField['plugins[1].colour']).toBe('unknown key (allowed here: name, kind, path, cflags, cxxflags, staticLibstdcxx, libs, exclude)');
    expect(found).toHaveLength(6);
  });

  it('cxxflags and staticLibstdcxx belong to kind cpp only', () => {
    const raw = valid() as unknown as { plugins: Array<Record<string, unknown>> };
    raw.plugins[0]!.cxxflags = ['-std=c++17'];
    raw.plugins.push({ name: 'cxx', kind: 'cpp', path: 'plugins/cxx', cxxflags: ['-std=c++20'], staticLibstdcxx: true });
    expect(issues(raw)).toEqual([{ field: 'plugins[0].cxxflags', message: 'applies only to kind cpp (this plugin is c)' }]);
    raw.plugins[0]!.cxxflags = undefined;
    delete raw.plugins[0]!.cxxflags;
    const config = validateConfig(raw, '/project');
    expect(config.plugins[2]).toMatchObject({ kind: 'cpp', cxxflags: ['-std=c++20'], staticLibstdcxx: true });
  });

  it('accepts "$schema" for editors', () => {
    expect(validateConfig({ $schema: './schema.json', ...valid() }, '/project').hostImage).toBe('host:1');
  });

  it('names the expected and the received type', () => {
    const raw = valid() as unknown as { plugins: Array<Record<string, unknown>>; sourceDateEpoch?: unknown; host: unknown };
    raw.plugins[0]!.cflags = '-O3';
    raw.plugins[1]!.name = 7;
    raw.sourceDateEpoch = '0';
    expect(issues(raw)).toEqual(
      expect.arrayContaining([
        { field: 'plugins[0].cflags', message: 'expected an array, received a string ("-O3")' },
        { field: 'plugins[1].name', message: 'expected a string, received a number (7)' },
        { field: 'sourceDateEpoch', message: 'expected a number, received a string ("0")' },
      ]),
    );
    expect(issues({ host: [], plugins: valid().plugins })).toEqual([{ field: 'host', message: 'expected an object, received an array' }]);
  });

  it('reports schema and semantic problems in the same pass', () => {
    const raw = valid() as unknown as { plugins: Array<Record<string, unknown>>; outDir?: unknown };
    raw.plugins[0]!.kind = 'rust';
    raw.plugins[1]!.name = 'greet';
    raw.plugins[1]!.path = '../x';
    raw.outDir = '../../elsewhere';
    expect(issues(raw).map((i) => i.field).sort()).toEqual(['outDir', 'plugins[0].kind', 'plugins[1].name', 'plugins[1].path']);
  });

  it('refuses an outDir or lockfile outside the project, and an outDir inside a plugin', () => {
    expect(issues({ ...valid(), outDir: '../../elsewhere', lockfile: '/tmp/x.json' }).map((i) => i.field)).toEqual(['outDir', 'lockfile']);
    expect(issues({ ...valid(), outDir: 'plugins/greet/out' })).toEqual([{ field: 'outDir', message: expect.stringContaining('inside plugins[0].path') }]);
  });

  it('suggests only near misses (property: a key one edit away from a known one is suggested)', () => {
    const known = ['host', 'builder', 'plugins', 'outDir', 'lockfile', 'sourceDateEpoch'];
    fc.assert(
      fc.property(fc.constantFrom(...known), fc.nat(), fc.constantFrom('drop', 'swap-case', 'add'), (key, at, edit) => {
        const i = at % key.length;
        const typo = edit === 'drop' ? key.slice(0, i) + key.slice(i + 1) : edit === 'add' ? key.slice(0, i) + 'x' + key.slice(i) : key.toLowerCase();
        if (typo === key || known.includes(typo) || typo.length < 3) return;
        expect(suggestKey(typo, known)).toBe(key);
      }),
    );
    expect(suggestKey('zzzzzz', known)).toBeNull();
  });

  it('requires at least one plugin, and host.binary for go-plugin', () => {
    expect(issues({ host: { image: 'h' }, plugins: [] }).map((i) => i.field)).toEqual(['plugins']);
    expect(issues({ host: { image: 'h' }, plugins: [{ name: 'p', kind: 'go-plugin', path: 'p' }] })).toEqual([
      { field: 'host.binary', message: expect.stringContaining('is required for go-plugin') },
    ]);
  });
});

describe('loadConfig', () => {
  async function project(config: unknown, dirs: string[] = []): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'pb-config-'));
    for (const d of dirs) await mkdir(join(dir, d), { recursive: true });
    await writeFile(join(dir, 'builder.config.json'), typeof config === 'string' ? config : JSON.stringify(config));
    return dir;
  }

  it('loads a valid config whose plugin directories exist', async () => {
    const dir = await project(valid(), ['plugins/greet', 'plugins/shout']);
    expect((await loadConfig(join(dir, 'builder.config.json'))).projectDir).toBe(dir);
  });

  it('says "file not found" for a missing file', async () => {
    await expect(loadConfig('/nonexistent/builder.config.json')).rejects.toThrow(/\(root\): file not found/);
  });

  it('reports invalid JSON', async () => {
    const dir = await project('{ "host": ');
    await expect(loadConfig(join(dir, 'builder.config.json'))).rejects.toThrow(/not valid JSON/);
  });

  it('names a plugin directory that does not exist', async () => {
    const dir = await project(valid(), ['plugins/greet']);
    await expect(loadConfig(join(dir, 'builder.config.json'))).rejects.toThrow(/plugins\[1\]\.path: directory "plugins\/shout" does not exist/);
  });

  async function loadIssues(dir: string): Promise<Array<{ field: string; message: string }>> {
    const error = await loadConfig(join(dir, 'builder.config.json')).then(() => null, (err: unknown) => err);
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).issues];
  }

  it('follows symbolic links on the way: a plugin, outDir or lockfile reaching outside the project by a link is refused, naming the real path', async () => {
    const outside = await realpath(await mkdtemp(join(tmpdir(), 'pb-outside-')));
    await mkdir(join(outside, 'od'));
    const config = { ...valid(), outDir: 'out/plugins', lockfile: 'locks/builder.lock.json' };
    config.plugins[1]!.path = 'plugins2/od';
    const dir = await project(config, ['plugins/greet']);
    await symlink(outside, join(dir, 'plugins2'));
    await symlink(outside, join(dir, 'out'));
    await symlink(join(outside, 'nonexistent'), join(dir, 'locks'));
    const found = await loadIssues(dir);
    expect(found).toEqual([
      { field: 'plugins[1].path', message: `"plugins2/od" resolves to ${outside}/od, outside the project directory ${await realpath(dir)}` },
      { field: 'outDir', message: expect.stringContaining(`resolves to ${outside}/plugins, outside the project`) },
      { field: 'lockfile', message: expect.stringContaining('is a symbolic link to') },
    ]);
  });

  it('follows go.mod replace targets by real path', async () => {
    const outside = await realpath(await mkdtemp(join(tmpdir(), 'pb-outside-')));
    const config = { host: { image: 'h' }, plugins: [{ name: 'g', kind: 'go-c-shared', path: 'plugins/g' }] };
    const dir = await project(config, ['plugins/g']);
    await symlink(outside, join(dir, 'shared'));
    await writeFile(join(dir, 'plugins/g/go.mod'), 'module g\n\ngo 1.19\n\nreplace example.com/shared => ../../shared\nreplace example.com/gone => ../../gone\n');
    const found = await loadIssues(dir);
    expect(found.map((i) => i.field)).toEqual([
      'plugins[0].path (go.mod: replace example.com/shared => ../../shared)',
      'plugins[0].path (go.mod: replace example.com/gone => ../../gone)',
    ]);
    expect(found[0]?.message).toContain(`resolves to ${outside}`);
  });

  it('reports schema, semantic and filesystem problems in one pass', async () => {
    const config = { host: { image: 'h' }, outdir: 'x', plugins: [{ name: 'a', kind: 'c', path: 'missing', cflags: '-O3' }, { name: 'a', kind: 'c', path: 'plugins/greet' }] };
    const dir = await project(config, ['plugins/greet']);
    expect((await loadIssues(dir)).map((i) => i.field).sort()).toEqual(['outdir', 'plugins[0].cflags', 'plugins[0].path', 'plugins[1].name']);
  });
});

describe('checkConfig under fuzz', () => {
  it('any JSON value gives either a config or issues that each name a field — never a crash', () => {
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue(), fc.record({ host: fc.jsonValue(), plugins: fc.array(fc.dictionary(fc.constantFrom('name', 'kind', 'path', 'cflags', 'libs', 'lib', 'x'), fc.jsonValue())), outDir: fc.jsonValue() }, { requiredKeys: [] })), (raw) => {
        const { issues, config } = checkConfig(raw, '/project');
        if (config) {
          expect(issues).toEqual([]);
          for (const p of config.plugins) expect(p.dir.startsWith('/project/')).toBe(true);
          expect(config.outDir.startsWith('/project')).toBe(true);
        } else {
          expect(issues.length).toBeGreaterThan(0);
          for (const i of issues) expect(typeof i.field === 'string' && i.field.length > 0 && typeof i.message === 'string' && i.message.length > 0).toBe(true);
        }
      }),
      { numRuns: 500 },
    );
  });
});
