import type { PluginConfig } from '../config/config.js';
import { BuilderError, EXIT_UNUSABLE } from '../errors.js';
import { canonicalJson } from '../util/canonical-json.js';
import { sha256Tagged } from '../util/sha256.js';
import type { SourceFile } from './sources.js';

/** Sources always sit at this path in the build container: paths in debug info stay fixed. */
export const SOURCE_DIR = '/src';
export const OUTPUT_DIR = '/out';

export interface PluginBuildPlan {
  plugin: string;
  /** File name of the artifact, inside OUTPUT_DIR and later inside outDir. */
  file: string;
  cmd: string[];
  env: string[];
  inputsHash: string;
}

export interface PlanSettings {
  builderImageId: string;
  sourceDateEpoch: number;
}

// `mkdir` then exec the compiler with its argv intact: no shell ever parses user flags.
const WITH_OUTPUT_DIR = ['sh', '-c', `mkdir -p ${OUTPUT_DIR} && exec "$@"`, 'sh'];

function compileCommand(plugin: PluginConfig, sources: readonly SourceFile[], file: string): string[] {
  const output = `${OUTPUT_DIR}/${file}`;
  if (plugin.kind === 'c') {
    const cFiles = sources.map((s) => s.path).filter((p) => p.endsWith('.c'));
    if (cFiles.length === 0) {
      throw new BuilderError('NO_SOURCES', `Plugin "${plugin.name}" (${plugin.path}) has no .c files.`, {
        fix: 'Put the plugin\'s C sources in its directory, or correct its "path" in builder.config.json.',
        exitCode: EXIT_UNUSABLE,
      });
    }
    return [
      'gcc', '-shared', '-fPIC', '-O2',
      // Debug info and __FILE__ name sources by a fixed, relative path.
      `-ffile-prefix-map=${SOURCE_DIR}=.`,
      '-fdiagnostics-color=never',
      ...plugin.cflags,
      '-o', output,
      ...cFiles,
      ...plugin.libs,
    ];
  }
  if (!sources.some((s) => s.path === 'go.mod')) {
    throw new BuilderError('NO_SOURCES', `Plugin "${plugin.name}" (${plugin.path}) has no go.mod.`, {
      fix: 'A go-c-shared plugin is a Go main package with its go.mod in the plugin directory.',
      exitCode: EXIT_UNUSABLE,
    });
  }
  // -trimpath and an empty build ID are what makes two builds byte-identical.
  return ['go', 'build', '-trimpath', '-buildvcs=false', '-buildmode=c-shared', '-ldflags=-buildid=', '-o', output, '.'];
}

function buildEnv(plugin: PluginConfig, settings: PlanSettings): string[] {
  const env = [`SOURCE_DATE_EPOCH=${settings.sourceDateEpoch}`, 'HOME=/tmp', 'LC_ALL=C'];
  if (plugin.kind === 'go-c-shared') {
    // Offline and pinned: no module proxy, no toolchain download, caches in the container.
    env.push('CGO_ENABLED=1', 'GOPROXY=off', 'GOTOOLCHAIN=local', 'GOCACHE=/tmp/go-cache', 'GOPATH=/tmp/go');
  }
  return env;
}

/**
 * How to build one plugin and the hash of everything that decides its bytes. Pure: the same
 * plugin, sources and settings always give the same plan.
 */
export function planPluginBuild(plugin: PluginConfig, sources: readonly SourceFile[], settings: PlanSettings): PluginBuildPlan {
  const file = `lib${plugin.name}.so`;
  const compile = compileCommand(plugin, sources, file);
  const env = buildEnv(plugin, settings);
  const inputsHash = sha256Tagged(
    canonicalJson({
      builderImageId: settings.builderImageId,
      kind: plugin.kind,
      compile,
      env,
      sources: sources.map((s) => [s.path, s.sha256]),
    }),
  );
  return { plugin: plugin.name, file, cmd: [...WITH_OUTPUT_DIR, ...compile], env, inputsHash };
}
