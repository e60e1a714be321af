import { readdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../../src/cli/program.js';
import { configJsonSchema, configJsonSchemaText } from '../../../src/config/json-schema.js';
import { JSON_SCHEMA_FILE } from '../../../src/config/json-schema-file.js';
import { configSchema } from '../../../src/config/schema.js';
import { checkConfig } from '../../../src/config/validate-config.js';
import { PLATFORMS } from '../../../src/lock/platform.js';

const ROOT = join(import.meta.dirname, '../../..');
// A real JSON Schema validator, strict about the schema itself (unknown keywords are errors;
// `required` inside oneOf names properties declared beside it, which strictRequired would flag).
const validate = new Ajv2020({ strict: true, strictRequired: false, allErrors: true }).compile(configJsonSchema());

async function configFiles(): Promise<string[]> {
  const found: string[] = [];
  for (const top of ['examples', 'test/fixtures']) {
    for (const entry of await readdir(join(ROOT, top), { recursive: true, withFileTypes: true })) {
      if (entry.isFile() && entry.name.endsWith('.config.json')) found.push(join(entry.parentPath, entry.name));
    }
  }
  return found.sort();
}

describe('the config JSON Schema', () => {
  it('ships as generated: the built file is exactly what the zod schema gives, and `builder schema` prints it', async () => {
    const shipped = await readFile(join(ROOT, JSON_SCHEMA_FILE), 'utf8').catch(() => {
      throw new Error(`${JSON_SCHEMA_FILE} is missing: \`npm run build\` makes it (scripts/setup.sh runs it)`);
    });
    expect(shipped).toBe(configJsonSchemaText());
    let stdout = '';
    const code = await runCli(['schema'], { cwd: ROOT, env: {}, stdout: (t) => (stdout += t), stderr: () => {} });
    expect(code).toBe(0);
    expect(stdout).toBe(shipped);
  });

  it('accepts every example and fixture config, as the tool does (ajv and checkConfig agree)', async () => {
    const files = await configFiles();
    expect(files.length).toBeGreaterThanOrEqual(10);
    for (const file of files) {
      const raw = JSON.parse(await readFile(file, 'utf8')) as unknown;
      expect(validate(raw), `${file}: ${JSON.stringify(validate.errors)}`).toBe(true);
      expect(checkConfig(raw, dirname(file)).issues, file).toEqual([]);
    }
  });

  it('rejects a misspelled key, as the tool does', async () => {
    const raw = JSON.parse(await readFile(join(ROOT, 'examples/hello/builder.config.json'), 'utf8')) as { plugins: Array<Record<string, unknown>> };
    raw.plugins[0]!.cflag = ['-O2'];
    expect(validate(raw)).toBe(false);
    expect(validate.errors).toContainEqual(expect.objectContaining({ keyword: 'additionalProperties', instancePath: '/plugins/0', params: { additionalProperty: 'cflag' } }));
    const { issues } = checkConfig(raw, join(ROOT, 'examples/hello'));
    expect(issues).toContainEqual(expect.objectContaining({ field: 'plugins[0].cflag' }));
    expect(issues.map((i) => i.message).join(' ')).toMatch(/cflags/);
  });

  it('holds what zod cannot say: exactly one of host.image and host.platforms, and only known platforms', () => {
    const plugins = [{ name: 'a', kind: 'c', path: 'a' }];
    expect(validate({ host: { image: 'x' }, plugins })).toBe(true);
    expect(validate({ host: { platforms: { 'linux/arm64': 'x' } }, plugins })).toBe(true);
    expect(validate({ host: {}, plugins })).toBe(false);
    expect(validate({ host: { image: 'x', platforms: { 'linux/arm64': 'x' } }, plugins })).toBe(false);
    expect(validate({ host: { platforms: { 'linux/sparc': 'x' } }, plugins })).toBe(false);
    expect(validate({ host: { platforms: {} }, plugins })).toBe(false);
  });

  it('fuzz: on any config-shaped value, the schema says yes exactly when the zod schema and those two rules do', () => {
    const anyValue = fc.oneof(fc.string({ maxLength: 6 }), fc.integer({ min: -2, max: 3 }), fc.boolean(), fc.constant(null), fc.constant([]), fc.constant({}));
    const flagList = fc.oneof(fc.array(fc.constantFrom('-O2', '-Wall', 'O2', '-I x', '-lz', '-Lz', '-l'), { maxLength: 3 }), anyValue);
    const plugin = fc.dictionary(
      fc.constantFrom('name', 'kind', 'path', 'cflags', 'cxxflags', 'staticLibstdcxx', 'libs', 'cflag', 'Name'),
      fc.oneof(fc.constantFrom('greet', 'c', 'cpp', 'go-plugin', 'rust', '', 'a b', 'plugins/greet', true), flagList),
      { maxKeys: 7 },
    );
    const platforms = fc.dictionary(fc.constantFrom(...PLATFORMS, 'linux/sparc', 'arm64', '__proto__'), fc.oneof(fc.constantFrom('img:1', ''), anyValue), { maxKeys: 3 });
    const host = fc.dictionary(fc.constantFrom('image', 'platforms', 'binary', 'imag'), fc.oneof(fc.constantFrom('img:1', '', '/app/host', 'app/host'), platforms, anyValue), { maxKeys: 3 });
    const config = fc.dictionary(
      fc.constantFrom('host', 'plugins', 'builder', 'outDir', 'lockfile', 'sourceDateEpoch', '$schema', 'outdir'),
      fc.oneof(host, fc.array(plugin, { maxLength: 3 }), fc.record({ packages: fc.array(fc.constantFrom('gcc', 'zlib1g-dev', '-y', 'a b'), { maxLength: 2 }) }, { requiredKeys: [] }), anyValue),
      { maxKeys: 6 },
    );
    // Mostly-valid configs with one thing changed, so that both answers occur often.
    const validPlugin = fc.record({ name: fc.constantFrom('greet', 'shout_2'), kind: fc.constantFrom('c', 'cpp', 'go-c-shared'), path: fc.constantFrom('plugins/greet', 'p') }, { requiredKeys: ['name', 'kind', 'path'] });
    const nearValid = fc
      .tuple(
        fc.oneof(fc.record({ image: fc.constant('img:1') }), fc.record({ platforms: fc.dictionary(fc.constantFrom(...PLATFORMS), fc.constant('img:1'), { minKeys: 1, maxKeys: 2 }) })),
        fc.array(validPlugin, { minLength: 1, maxLength: 2 }),
        fc.option(fc.tuple(fc.constantFrom('host', 'plugins', 'outDir', 'sourceDateEpoch', 'builder'), anyValue)),
      )
      .map(([h, plugins, change]) => ({ host: h, plugins, ...(change ? { [change[0]]: change[1] } : {}) }) as Record<string, unknown>);
    let accepted = 0;
    let runs = 0;
    fc.assert(
      fc.property(fc.oneof(config, nearValid), (raw) => {
        runs++;
        const h = (raw as { host?: unknown }).host;
        const hostObject = h !== null && typeof h === 'object' && !Array.isArray(h) ? (h as Record<string, unknown>) : null;
        const platformKeys = hostObject && hostObject.platforms !== null && typeof hostObject.platforms === 'object' ? Object.keys(hostObject.platforms) : [];
        const rules = hostObject !== null && ('image' in hostObject) !== ('platforms' in hostObject) && platformKeys.every((k) => PLATFORMS.includes(k)) && (!('platforms' in hostObject) || platformKeys.length > 0);
        const zodSays = configSchema.safeParse(raw).success;
        expect(validate(raw)).toBe(zodSays && rules);
        if (zodSays && rules) accepted++;
      }),
      { numRuns: 2000 },
    );
    expect(accepted / runs).toBeGreaterThan(0.1);
    expect(accepted / runs).toBeLessThan(0.9);
  });
});
