import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A project of `c` C plugins and `go` Go c-shared plugins for one host image (tests and
 * benchmarks). Each plugin has its own name in its manifest and a distinct constant, so no
 * two artifacts are equal.
 */
export async function generateProject(dir: string, counts: { c: number; go: number }, hostImage: string): Promise<string[]> {
  const plugins: Array<{ name: string; kind: string; path: string }> = [];
  for (let i = 0; i < counts.c; i++) {
    const name = `c${i}`;
    await mkdir(join(dir, 'plugins', name), { recursive: true });
    await writeFile(
      join(dir, 'plugins', name, `${name}.c`),
      `const char *builder_plugin_manifest(void) {\n` +
        `  return "{\\"name\\":\\"${name}\\",\\"version\\":\\"1.0.0\\",\\"functions\\":{\\"Value\\":\\"int Value(int x)\\"}}";\n}\n` +
        `int Value(int x) { return x + ${i}; }\n`,
    );
    plugins.push({ name, kind: 'c', path: `plugins/${name}` });
  }
  for (let i = 0; i < counts.go; i++) {
    const name = `go${i}`;
    await mkdir(join(dir, 'plugins', name), { recursive: true });
    await writeFile(join(dir, 'plugins', name, 'go.mod'), `module example.com/${name}\n\ngo 1.19\n`);
    await writeFile(
      join(dir, 'plugins', name, 'main.go'),
      `package main\n\nimport "C"\n\n` +
        `var manifest = C.CString(\`{"name":"${name}","version":"1.0.0","functions":{"Value":"int Value(int x)"}}\`)\n\n` +
        `//export builder_plugin_manifest\nfunc builder_plugin_manifest() *C.char { return manifest }\n\n` +
        `//export Value\nfunc Value(x C.int) C.int { return x + ${i} }\n\nfunc main() {}\n`,
    );
    plugins.push({ name, kind: 'go-c-shared', path: `plugins/${name}` });
  }
  const config = { host: { image: hostImage }, plugins, outDir: 'dist/plugins', lockfile: 'dist/plugins/builder.lock.json' };
  await writeFile(join(dir, 'builder.config.json'), JSON.stringify(config, null, 2) + '\n');
  return plugins.map((p) => p.name);
}
