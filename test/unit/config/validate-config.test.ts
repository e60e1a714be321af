import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../../src/config/load-config.js';
import { validateConfig } from '../../../src/config/validate-config.js';
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
    expect(issues({ host: {}, plugins: valid().plugins })).toContainEqual({ field: 'host.image', message: 'is required' });
  });

  it('names an unknown kind and lists the known ones', () => {
    const raw = valid();
    raw.plugins[0]!.kind = 'rust';
    const [issue] = issues(raw);
    expect(issue?.field).toBe('plugins[0].kind');
    expect(issue?.message).toBe('unknown kind "rust"; expected one of c, go-c-shared, go-plugin');
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
});
