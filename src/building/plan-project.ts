import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { platformTargets, type ProjectConfig } from '../config/config.js';
import type { DockerEngine } from '../docker/engine.js';
import type { ProbeCache } from '../env/probe-cache.js';
import { readLockfile } from '../lock/lockfile-io.js';
import { type Lockfile, lockedPlugin, lockSectionFor } from '../lock/lockfile.js';
import { sha256FileHex } from '../util/sha256.js';
import { refuseUnknownPlugins } from './build-project.js';
import { artifactIntact, decidePlugin, sourceHashes } from './plugin-decision.js';
import { BuilderImageAbsent } from './builder-image.js';
import { needsProof, proofProgramFor } from './prove-artifacts.js';
import { resolveEnvironment } from './resolve-environment.js';

/**
 * `builder plan`: for each plugin, what `builder build` would do and why, without building,
 * pulling or writing anything. The engine is only read: the host is probed (or its probe read
 * from the cache) and the builder image looked up; a builder image that is not there means every
 * plugin would be rebuilt by a new one.
 */

export type PlanAction = 'build' | 'prove' | 'skip';
export type PlanReason = 'new' | 'inputs-changed' | 'artifact-changed' | 'environment' | 'unproven' | 'unchanged';

export interface PluginPlanEntry {
  name: string;
  platform?: string;
  kind: string;
  action: PlanAction;
  reason: PlanReason;
  /** Said for people: which files, which image, what is wrong with the artifact. */
  detail: string;
  changedFiles?: { added: string[]; removed: string[]; changed: string[] };
}

export interface ProjectPlan {
  lockfile: string;
  plugins: PluginPlanEntry[];
}

export async function planProject(
  engine: DockerEngine,
  config: ProjectConfig,
  names: readonly string[],
  ctx: { recipeDir: string; probeCache?: ProbeCache; now?: () => number },
): Promise<ProjectPlan> {
  refuseUnknownPlugins(config, names);
  await engine.ping();
  const document = await readLockfile(config.lockfile);
  const entries: PluginPlanEntry[] = [];
  for (const target of platformTargets(config)) {
    const previous = lockSectionFor(document, target.platform);
    const plugins = target.config.plugins.filter((p) => names.length === 0 || names.includes(p.name));
    const platform = target.platform ? { platform: target.platform } : {};
    let env;
    try {
      env = await resolveEnvironment(engine, { ...config, hostImage: target.config.hostImage }, {
        report: () => undefined,
        recipeDir: ctx.recipeDir,
        now: ctx.now ?? Date.now,
        ...(ctx.probeCache ? { probeCache: ctx.probeCache } : {}),
        ...(target.platform ? { platform: target.platform } : {}),
        inspectOnly: true,
      });
    } catch (err) {
      if (!(err instanceof BuilderImageAbsent)) throw err;
      for (const p of plugins) entries.push({ name: p.name, ...platform, kind: p.kind, action: 'build', reason: 'environment', detail: `${err.message}: it would be built (its inputs — base image, packages, recipe — are new here), and every plugin rebuilt with it` });
      continue;
    }
    const { described } = await proofProgramFor(engine, target.config, env.host);
    for (const plugin of plugins) {
      const decision = await decidePlugin(plugin, { config: target.config, env, previous, cache: true });
      const entry = { name: plugin.name, ...platform, kind: plugin.kind };
      const locked = decision.lockedEntry;
      if (!locked) {
        entries.push({ ...entry, action: 'build', reason: 'new', detail: previous ? 'not in the lockfile' : 'no lockfile yet' });
      } else if (decision.inputsMatch && (await artifactIntact(target.config.outDir, locked))) {
        if (needsProof(locked.proof, env.host.imageId, described ?? undefined)) {
          const why =
            locked.proof?.result === 'loaded'
              ? locked.proof.imageId !== env.host.imageId ? `proven on another host image (${locked.proof.imageId.slice(0, 19)})` : `proven by another loading program (${locked.proof.program})`
              : locked.proof ? `not proven (${locked.proof.reason})` : 'never proven';
          entries.push({ ...entry, action: 'prove', reason: 'unproven', detail: `inputs and artifact match the lockfile, but it is ${why}: the build loads it in ${env.host.image} without rebuilding it` });
        } else entries.push({ ...entry, action: 'skip', reason: 'unchanged', detail: 'inputs and artifact match the lockfile' });
      } else if (decision.inputsMatch) {
        entries.push({ ...entry, action: 'build', reason: 'artifact-changed', detail: await artifactProblem(target.config.outDir, locked) });
      } else {
        entries.push({ ...entry, action: 'build', reason: 'inputs-changed', ...inputsChange(locked, sourceHashes(decision.sources.files), previous!, env.builder.imageId) });
      }
    }
  }
  return { lockfile: config.lockfile, plugins: entries };
}

async function artifactProblem(outDir: string, locked: NonNullable<ReturnType<typeof lockedPlugin>>): Promise<string> {
  const path = join(outDir, locked.file);
  const info = await lstat(path).catch(() => null);
  if (!info) return `${locked.file} is missing`;
  if (!info.isFile()) return `${locked.file} is not a regular file`;
  if (info.size !== locked.size) return `${locked.file} is ${info.size} bytes, the lockfile says ${locked.size}`;
  const sha = await sha256FileHex(path).catch(() => null);
  return `${locked.file} has sha256 ${sha?.slice(0, 16) ?? '(unreadable)'}…, the lockfile says ${locked.sha256.slice(0, 16)}…`;
}

function inputsChange(locked: NonNullable<ReturnType<typeof lockedPlugin>>, current: Record<string, string>, previous: Lockfile, builderImageId: string): Pick<PluginPlanEntry, 'detail' | 'changedFiles'> {
  if (previous.builder.imageId !== builderImageId) return { detail: `the builder image changed (${previous.builder.imageId.slice(0, 19)} → ${builderImageId.slice(0, 19)})` };
  if (!locked.sources) return { detail: 'its inputs changed (the lockfile has no per-file hashes yet to say which)' };
  const before = locked.sources;
  const added = Object.keys(current).filter((f) => !Object.hasOwn(before, f)).sort();
  const removed = Object.keys(before).filter((f) => !Object.hasOwn(current, f)).sort();
  const changed = Object.keys(current).filter((f) => Object.hasOwn(before, f) && before[f] !== current[f]).sort();
  if (added.length + removed.length + changed.length === 0) return { detail: 'its build settings changed (kind, flags, libs, or the host Go build settings)' };
  const parts = [changed.length ? `changed: ${changed.join(', ')}` : '', added.length ? `added: ${added.join(', ')}` : '', removed.length ? `removed: ${removed.join(', ')}` : ''].filter(Boolean);
  return { detail: parts.join('; '), changedFiles: { added, removed, changed } };
}
