import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import type { PluginConfig, ProjectConfig } from '../config/config.js';
import { lockedPlugin, type LockedPlugin, type Lockfile } from '../lock/lockfile.js';
import { sha256FileHex } from '../util/sha256.js';
import { collectPluginSources } from './collect-plugin-sources.js';
import { type GoSourceLayout, type GoSourceMove, goSourceLayout } from './go-source-layout.js';
import { type PluginBuildPlan, planPluginBuild } from './plan-plugin-build.js';
import type { BuildEnvironment } from './resolve-environment.js';
import { cCompiler } from './toolchain.js';

/** Whether a plugin must be built: its sources, its plan, and whether the locked artifact already is its result. */

/** The locked artifact on disk is exactly the locked bytes. */
export async function artifactIntact(outDir: string, entry: Lockfile['plugins'][string] | undefined): Promise<boolean> {
  if (!entry) return false;
  const path = join(outDir, entry.file);
  // Only a regular file of the locked size is hashed: a FIFO or device put there would hang the read.
  const info = await lstat(path).catch(() => null);
  if (!info?.isFile() || info.size !== entry.size) return false;
  return sha256FileHex(path).then((sha) => sha === entry.sha256, () => false);
}

export function sourceHashes(files: readonly { path: string; sha256: string }[]): Record<string, string> {
  return Object.fromEntries(files.map((f) => [f.path, f.sha256]));
}

/** What a plugin's build would be: its sources, its plan, and whether the locked artifact already is its result. */
/** What deciding about a plugin needs of the build it is part of. */
export interface DecisionInputs {
  config: ProjectConfig;
  env: BuildEnvironment;
  previous: Lockfile | null;
  cache: boolean;
}

export interface PluginDecision {
  sources: Awaited<ReturnType<typeof collectPluginSources>>;
  plan: PluginBuildPlan;
  /** A go-plugin whose host was built without -trimpath and whose modules cannot follow it. */
  refused: string | null;
  moves: readonly GoSourceMove[];
  lockedEntry: LockedPlugin | undefined;
  /** Same inputs and file name as locked (whether the artifact on disk is still the locked one is artifactIntact's question). */
  inputsMatch: boolean;
}

export async function decidePlugin(plugin: PluginConfig, job: DecisionInputs & { skipGoModuleCheck?: boolean }): Promise<PluginDecision> {
  const { config, env, previous } = job;
  const sources = await collectPluginSources(plugin, config.projectDir);
  const hostBinary = env.host.goBuildInfo;
  const layout: GoSourceLayout =
    plugin.kind === 'go-plugin' && hostBinary && config.hostBinary
      ? goSourceLayout(sources.files, sources.workdir, sources.goMod, hostBinary, config.hostBinary, env.toolchain.goroot)
      : { moves: [] };
  const moves = 'moves' in layout ? layout.moves : [];
  const plan = planPluginBuild(
    plugin,
    { files: sources.files, workdir: sources.workdir, hasGoMod: sources.goMod !== null },
    {
      builderImageId: env.builder.imageId,
      sourceDateEpoch: config.sourceDateEpoch,
      cCompiler: cCompiler(env.manager, env.target),
      cache: job.cache,
      ...(env.host.fingerprint.go ? { goHostSettings: env.host.fingerprint.go.settings } : {}),
      ...(moves.length > 0 ? { goSourceMoves: moves } : {}),
      ...(job.skipGoModuleCheck && plugin.kind === 'go-plugin' ? { moduleCheckSkipped: true } : {}),
    },
  );
  const lockedEntry = previous ? lockedPlugin(previous, plugin.name) : undefined;
  const inputsMatch = lockedEntry?.inputsHash === plan.inputsHash && lockedEntry.file === plan.file;
  return { sources, plan, refused: 'refused' in layout ? layout.refused : null, moves, lockedEntry, inputsMatch };
}
