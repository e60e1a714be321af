import type { PluginConfig } from '../config/config.js';
import { goHostEnvironment, goHostFlags } from '../gomod/go-build-settings.js';
import { isCFamily } from '../config/schema.js';
import { BuilderError } from '../errors.js';
import { canonicalJson } from '../util/canonical-json.js';
import { sha256Tagged } from '../util/sha256.js';
import type { GoSourceMove } from './go-source-layout.js';
import { SOURCE_DIR, type SourceFile } from './sources.js';

export const OUTPUT_DIR = '/out';

export interface PluginBuildPlan {
  plugin: string;
  /** File name of the artifact, inside OUTPUT_DIR and later inside outDir. */
  file: string;
  cmd: string[];
  env: string[];
  /** Working directory in the container (the plugin's directory under SOURCE_DIR). */
  workdir: string;
  inputsHash: string;
  /** Mount the compiler cache volume at CACHE_DIR. */
  usesCache: boolean;
}

export interface PlanSources {
  /** Files relative to the project directory. */
  files: readonly SourceFile[];
  workdir: string;
  hasGoMod: boolean;
}

export interface PlanSettings {
  builderImageId: string;
  sourceDateEpoch: number;
  /** `musl-gcc` when a glibc builder targets a musl host; default gcc. */
  cCompiler?: 'gcc' | 'musl-gcc';
  /** For go-plugin: the host binary's build settings (GOAMD64, CGO_ENABLED, -trimpath, -tags). */
  goHostSettings?: Readonly<Record<string, string>>;
  /** For go-plugin with a host built without -trimpath: local modules to compile from the host's directories. */
  goSourceMoves?: readonly GoSourceMove[];
  /**
   * Compiler caches mounted at CACHE_DIR (GOCACHE, ccache). They never change the artifact,
   * so they are left out of the inputs hash.
   */
  cache?: boolean;
  /**
   * go-plugin built with --skip-go-module-check: part of its inputs, so that a later plain build
   * does not keep it as unchanged without the check it skipped.
   */
  moduleCheckSkipped?: boolean;
}

/** Where the persistent compiler cache volume is mounted in build containers. */
export const CACHE_DIR = '/cache';

// Offline and pinned: no module proxy, no toolchain download.
const GO_ENV = ['GOPROXY=off', 'GOTOOLCHAIN=local', 'GOPATH=/tmp/go'];

/** Single-quote for sh: the script is generated, but every user-provided word is data. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

function noSources(plugin: PluginConfig, what: string, fix: string): BuilderError {
  return new BuilderError('NO_SOURCES', `Plugin "${plugin.name}" (${plugin.path}) has no ${what}.`, { fix });
}

/** C: compile each file to an object (cacheable by ccache), then link the shared object. */
function cSteps(plugin: PluginConfig, sources: PlanSources, output: string, cc: string): string[][] {
  const prefix = sources.workdir === SOURCE_DIR ? '' : `${sources.workdir.slice(SOURCE_DIR.length + 1)}/`;
  const cFiles = sources.files
    .map((s) => s.path)
    .filter((p) => p.startsWith(prefix) && p.endsWith('.c'))
    .map((p) => p.slice(prefix.length));
  if (cFiles.length === 0) throw noSources(plugin, '.c files', "Put the plugin's C sources in its directory, or correct its \"path\" in builder.config.json.");
  const objects = cFiles.map((_, i) => `/tmp/obj/${i}.o`);
  return [
    ...cFiles.map((file, i) => [
      cc, '-c', '-fPIC', '-O2',
      // Debug info and __FILE__ name sources by a fixed, relative path.
      `-ffile-prefix-map=${SOURCE_DIR}=.`,
      '-fdiagnostics-color=never',
      ...plugin.cflags,
      '-o', objects[i] as string,
      file,
    ]),
    [cc, '-shared', ...plugin.cflags, '-o', output, ...objects, ...plugin.libs],
  ];
}

const CXX_SUFFIXES = ['.cc', '.cpp', '.cxx'];

/**
 * C++: every .cc/.cpp/.cxx file with g++ (cxxflags), any .c file with gcc (cflags), linked by
 * g++; with staticLibstdcxx, libstdc++ and libgcc are linked in, so the plugin asks the host for
 * no GLIBCXX/CXXABI version.
 */
function cppSteps(plugin: PluginConfig, sources: PlanSources, output: string): string[][] {
  const prefix = sources.workdir === SOURCE_DIR ? '' : `${sources.workdir.slice(SOURCE_DIR.length + 1)}/`;
  const mine = sources.files.map((s) => s.path).filter((p) => p.startsWith(prefix)).map((p) => p.slice(prefix.length));
  const cxx = mine.filter((p) => CXX_SUFFIXES.some((s) => p.endsWith(s)));
  const c = mine.filter((p) => p.endsWith('.c'));
  if (cxx.length === 0) throw noSources(plugin, '.cc, .cpp or .cxx files', "Put the plugin's C++ sources in its directory, or correct its \"path\" in builder.config.json.");
  const units = [...cxx.map((file) => ({ file, compiler: 'g++', flags: plugin.cxxflags })), ...c.map((file) => ({ file, compiler: 'gcc', flags: plugin.cflags }))];
  const objects = units.map((_, i) => `/tmp/obj/${i}.o`);
  return [
    ...units.map((unit, i) => [
      unit.compiler, '-c', '-fPIC', '-O2',
      `-ffile-prefix-map=${SOURCE_DIR}=.`,
      '-fdiagnostics-color=never',
      ...unit.flags,
      '-o', objects[i] as string,
      unit.file,
    ]),
    ['g++', '-shared', ...plugin.cxxflags, ...(plugin.staticLibstdcxx ? ['-static-libstdc++', '-static-libgcc'] : []), '-o', output, ...objects, ...plugin.libs],
  ];
}

/**
 * go-plugin builds name the main package's files instead of the directory. Go gives a plugin
 * whose package is `command-line-arguments` the plugin path `plugin/unnamed-<hash of its build
 * ID and sources>`, unique to its inputs, where a directory build takes the module's import
 * path, the same for every version — and the Go runtime refuses a second plugin with a path it
 * has loaded ("plugin already loaded"), so a running host could never take a new version.
 * (`-ldflags=-pluginpath=…` is no way out: cmd/go compiles the package under its own plugin
 * path, the linker's flag renames only the runtime's view, and plugin.Open then fails with
 * `undefined symbol: <path>.Register`; checked with Go 1.19.) Files are listed one per line
 * and split on newlines only; `$@` carries the go build flags.
 */
const GO_PLUGIN_BUILD = [
  'nl=\'',
  '\'',
  'IFS=$nl',
  'exec go build "$@" $(go list -f \'{{range .GoFiles}}{{println .}}{{end}}{{range .CgoFiles}}{{println .}}{{end}}\' .)',
].join('\n');

/** The artifact's file name, in the container's output directory and in outDir. */
export const artifactFile = (plugin: string) => `lib${plugin}.so`;

/** Copy each module to the host's directory and point the plugin's go.mod there (in the container only). */
function moveSteps(moves: readonly GoSourceMove[]): string[][] {
  return moves.flatMap((m) => [
    ['mkdir', '-p', m.to],
    ['cp', '-R', `${m.from}/.`, m.to],
    ['go', 'mod', 'edit', `-replace=${m.module}=${m.to}`],
  ]);
}

function goCommand(plugin: PluginConfig, output: string, host: Readonly<Record<string, string>>): string[] {
  if (plugin.kind === 'go-c-shared') {
    // -trimpath and an empty build ID are what makes two builds byte-identical.
    return ['go', 'build', '-trimpath', '-buildvcs=false', '-buildmode=c-shared', '-ldflags=-buildid=', '-o', output, '.'];
  }
  // A Go plugin must be built like its host: same -trimpath and tags (GOFLAGS, so that go list
  // selects the same files), or the runtime refuses it.
  return [
    'sh', '-c', GO_PLUGIN_BUILD, 'go-plugin-build',
    ...goHostFlags(host),
    '-buildvcs=false', '-buildmode=plugin', '-ldflags=-buildid=', '-o', output,
  ];
}

function buildEnv(plugin: PluginConfig, settings: PlanSettings): string[] {
  const env = [`SOURCE_DATE_EPOCH=${settings.sourceDateEpoch}`, 'HOME=/tmp', 'LC_ALL=C'];
  if (plugin.kind === 'go-c-shared') env.push('CGO_ENABLED=1', ...GO_ENV);
  if (plugin.kind === 'go-plugin') {
    const [cgo, ...rest] = goHostEnvironment(settings.goHostSettings ?? {}, settings.cCompiler ?? 'gcc');
    env.push(cgo!, ...GO_ENV, ...rest);
  }
  return env;
}

function cacheEnv(plugin: PluginConfig, cache: boolean): string[] {
  if (isCFamily(plugin.kind)) return cache ? [`CCACHE_DIR=${CACHE_DIR}/ccache`, `CCACHE_BASEDIR=${SOURCE_DIR}`] : [];
  return [`GOCACHE=${cache ? `${CACHE_DIR}/go` : '/tmp/go-cache'}`];
}

/** The steps as one sh script; with the cache, C compile steps go through ccache. */
function script(steps: readonly string[][], kind: PluginConfig['kind'], cache: boolean): string {
  const lines = ['set -e', `mkdir -p ${OUTPUT_DIR} /tmp/obj`];
  steps.forEach((step, i) => {
    const viaCcache = cache && isCFamily(kind) && i < steps.length - 1;
    lines.push((viaCcache ? 'ccache ' : '') + step.map(shellQuote).join(' '));
  });
  return lines.join('\n');
}

/**
 * How to build one plugin and the hash of everything that decides its bytes. Pure: the same
 * plugin, sources and settings always give the same plan.
 */
export function planPluginBuild(plugin: PluginConfig, sources: PlanSources, settings: PlanSettings): PluginBuildPlan {
  const file = artifactFile(plugin.name);
  const output = `${OUTPUT_DIR}/${file}`;
  let steps: string[][];
  if (plugin.kind === 'c') steps = cSteps(plugin, sources, output, settings.cCompiler ?? 'gcc');
  else if (plugin.kind === 'cpp') steps = cppSteps(plugin, sources, output);
  else if (!sources.hasGoMod) throw noSources(plugin, 'go.mod', 'A Go plugin is a main package with its go.mod in the plugin directory.');
  else steps = [...(plugin.kind === 'go-plugin' ? moveSteps(settings.goSourceMoves ?? []) : []), goCommand(plugin, output, settings.goHostSettings ?? {})];
  const env = buildEnv(plugin, settings);
  const cache = settings.cache === true;
  const inputsHash = sha256Tagged(
    canonicalJson({
      builderImageId: settings.builderImageId,
      kind: plugin.kind,
      steps,
      env,
      workdir: sources.workdir,
      sources: sources.files.map((s) => [s.path, s.sha256]),
      ...(settings.moduleCheckSkipped ? { moduleCheckSkipped: true } : {}),
    }),
  );
  return {
    plugin: plugin.name,
    file,
    cmd: ['sh', '-c', script(steps, plugin.kind, cache)],
    env: [...env, ...cacheEnv(plugin, cache)],
    workdir: sources.workdir,
    inputsHash,
    usesCache: cache,
  };
}

export { goHostFlags } from '../gomod/go-build-settings.js';
