/**
 * The `builder` command as one file, dist/builder.js (run by `npm run build`, after tsc).
 *
 * Why a bundle: on Node 20, loading the CLI as ~250 separate ES modules (plus zod's and
 * dockerode's own files) took ~220 ms before the first engine request; most of it was module
 * resolution, file reads and compiling code no command runs. One minified file, with only what
 * a command can reach, starts in about half that (bench/results-startup.md).
 *
 * What is left out of it, and why:
 *   - dockerode's BuildKit session client (gRPC) and its `buildkit` progress reader
 *     (protobufjs): the first serves only `version: "2"` image builds, the second only
 *     docker.followProgress; this tool uses neither, and the stubs say so if they are reached.
 *   - docker-modem's ssh agent loads ssh2 (~30 ms) for every engine; here it is loaded on the
 *     first ssh:// request instead.
 *   - koffi (a native addon) and ssh2 (optional native parts) stay in node_modules.
 * The library entry points (dist/index.js, dist/runtime/) stay tsc's per-module output, and
 * dist/cli/main.js is removed so that the bundle is the one `builder` there is.
 */
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));
const modemSsh = createRequire(require.resolve('dockerode')).resolve('docker-modem/lib/ssh.js');

const STUBS = {
  session: 'module.exports = function (_docker, _auth, callback) { callback(new Error("BuildKit sessions are not used by plugin-builder (classic builder only)")); };',
  buildkit: 'module.exports = { followProgress: function () { throw new Error("docker.followProgress (BuildKit-aware) is not used by plugin-builder"); } };',
  ssh: `module.exports = function (options) { return require(${JSON.stringify(modemSsh)})(options); };`,
};

/** @type {import('esbuild').Plugin} */
const trimDockerode = {
  name: 'trim-dockerode',
  setup(b) {
    b.onResolve({ filter: /^\.\/(session|buildkit)$/ }, (args) => (/[\\/]dockerode[\\/]lib[\\/]/.test(args.importer) ? { path: args.path.slice(2), namespace: 'stub' } : undefined));
    b.onResolve({ filter: /^\.\/ssh$/ }, (args) => (/[\\/]docker-modem[\\/]lib[\\/]/.test(args.importer) ? { path: 'ssh', namespace: 'stub' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'stub' }, (args) => ({ contents: STUBS[args.path], loader: 'js', resolveDir: root }));
    // The per-module build loads dockerode through require() so it can stub the session module
    // in Node's cache; in the bundle the stubs above do that, and a static import lets it be bundled.
    b.onResolve({ filter: /\/load-dockerode\.js$/ }, (args) => ({ path: join(args.resolveDir, 'load-dockerode-bundled.ts') }));
  },
};

const result = await build({
  entryPoints: [join(root, 'src/cli/main.ts')],
  outfile: join(root, 'dist/builder.js'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node18',
  minifyWhitespace: true,
  minifySyntax: true,
  // Names stay: a stack trace from a user's CI must still say where it was.
  minifyIdentifiers: false,
  sourcemap: 'linked',
  external: ['koffi', 'ssh2'],
  plugins: [trimDockerode],
  // CommonJS dependencies call require(); in an ES module it has to be made.
  banner: { js: "import { createRequire as __builderCreateRequire } from 'node:module'; const require = __builderCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
if (result.errors.length > 0) process.exit(1);
for (const file of ['main.js', 'main.js.map', 'main.d.ts']) rmSync(join(root, 'dist/cli', file), { force: true });
