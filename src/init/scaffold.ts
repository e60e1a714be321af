import { PLUGIN_NAME } from '../config/schema.js';

/**
 * What `builder init` writes: a config for one host image and one C plugin with its manifest,
 * which builds as it stands. Pure: names in, files (relative path → text) out.
 */
export interface ScaffoldRequest {
  hostImage: string;
  plugin: string;
  /** `"$schema"` for editors: the package's schema, relative to the project. */
  schemaPath: string;
}

export class ScaffoldError extends Error {}

export function scaffoldFiles(request: ScaffoldRequest): Record<string, string> {
  const { hostImage, plugin } = request;
  if (!PLUGIN_NAME.test(plugin)) throw new ScaffoldError(`--name "${plugin}" is not a plugin name: 1-64 letters, digits, "-" or "_", starting with a letter or digit`);
  if (hostImage.trim() === '' || /\s/.test(hostImage)) throw new ScaffoldError(`--host-image "${hostImage}" is not an image reference`);
  const symbol = plugin.replace(/[^A-Za-z0-9_]/g, '_');
  const config = {
    $schema: request.schemaPath,
    host: { image: hostImage },
    plugins: [{ name: plugin, kind: 'c', path: `plugins/${plugin}` }],
    outDir: 'dist/plugins',
    lockfile: 'dist/plugins/builder.lock.json',
  };
  const source = `/* The ${plugin} plugin. The host runtime binds only what the manifest declares, with the types it
 * declares (integers, float, double, bool, const char *): add a function to both. */
#include <stdio.h>

const char *builder_plugin_manifest(void) {
    return "{\\"name\\":\\"${plugin}\\",\\"version\\":\\"0.1.0\\",\\"functions\\":{"
           "\\"Add\\":\\"int Add(int a, int b)\\","
           "\\"Hello\\":\\"const char *Hello(const char *who)\\"}}";
}

int Add(int a, int b) { return a + b; }

/* Returns a pointer into a thread-local buffer: valid until the next call on this thread. */
const char *Hello(const char *who) {
    static __thread char buffer[256];
    snprintf(buffer, sizeof buffer, "Hello from ${symbol}, %s!", who ? who : "world");
    return buffer;
}
`;
  return {
    'builder.config.json': `${JSON.stringify(config, null, 2)}\n`,
    [`plugins/${plugin}/${plugin}.c`]: source,
    [`plugins/${plugin}/.builderignore`]: '# Files left out of the sources (neither hashed nor uploaded), as in .gitignore.\n*.md\n',
  };
}
