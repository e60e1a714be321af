import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The layers of src/, lowest first: a module imports from its own layer or below, never above
 * (a lower layer reaching up is how a "pure" core grows a dependency on I/O), and no file takes
 * part in an import cycle. Top-level files are named without `.ts`.
 */
const LAYERS: readonly (readonly string[])[] = [
  ['util', 'errors', 'error-codes', 'error-codes-doc', 'limits', 'package-root', 'plugin-kinds'],
  ['elf', 'docker'],
  ['env'],
  ['lock', 'version'],
  ['trust', 'gomod', 'shard', 'oci'],
  ['config'],
  ['registry'],
  ['runtime'],
  ['proof'],
  ['verify'],
  ['building', 'drift', 'deploy'],
  ['rehearse', 'init'],
  ['cli', 'index'],
];

const SRC = join(import.meta.dirname, '../../src');
const files = readdirSync(SRC, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts')).map((f) => f.replaceAll('\\', '/'));
const unitOf = (file: string) => (file.includes('/') ? file.split('/')[0]! : file.replace(/\.ts$/, ''));
const layerOf = (unit: string) => LAYERS.findIndex((layer) => layer.includes(unit));

/** Relative imports of a file (static, `export … from`, and dynamic `import()`), as src-relative .ts paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(SRC, file), 'utf8');
  const specs = [...text.matchAll(/(?:from\s+|import\s*\(\s*)'(\.{1,2}\/[^']+)'/g)].map((m) => m[1]!);
  return specs.map((s) => relative(SRC, normalize(join(SRC, dirname(file), s))).replaceAll('\\', '/').replace(/\.js$/, '.ts'));
}

describe('the shape of src/', () => {
  it('every top-level unit has a layer', () => {
    expect([...new Set(files.map(unitOf))].filter((u) => layerOf(u) < 0)).toEqual([]);
  });

  it('no import reaches up a layer', () => {
    const upward: string[] = [];
    for (const file of files) {
      for (const target of importsOf(file)) {
        if (layerOf(unitOf(target)) > layerOf(unitOf(file))) upward.push(`${file} → ${target}`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('no import cycle between files', () => {
    const graph = new Map(files.map((f) => [f, importsOf(f).filter((t) => files.includes(t))]));
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (file: string, path: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        cycles.push([...path.slice(path.indexOf(file)), file].join(' → '));
        return;
      }
      state.set(file, 'open');
      for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of files) visit(file, []);
    expect(cycles).toEqual([]);
  });
});
