import type { PluginConfig, ProjectConfig } from '../config/config.js';
import { BuilderError } from '../errors.js';
import { fingerprintHash } from '../env/fingerprint.js';
import { jsonDifferences } from '../util/json-diff.js';
import type { ProbedImage } from '../env/probe-image.js';
import { readLockfile } from '../lock/lockfile-io.js';
import { type LockDocument, LOCKFILE_VERSION, lockedPlugin, type LockedEnvironment, type Lockfile, parseLockDocument, sameLockContent, serializeLockfile } from '../lock/lockfile.js';
import type { BuildReporter } from './build-events.js';
import type { BuildEnvironment } from './resolve-environment.js';
import type { PluginReport, BuildReport } from './build-report.js';
import { artifactIntact } from './plugin-decision.js';
import type { LockfileSigner } from './lock-signer.js';

/** The lockfile a build writes: assembled from the probes and the plugin reports, compared with the previous one. */

export function locked(probe: ProbedImage & { binary?: string; repoDigest?: string }, image = probe.image): LockedEnvironment {
  return {
    image,
    imageId: probe.imageId,
    ...(probe.repoDigest ? { repoDigest: probe.repoDigest } : {}),
    ...(probe.binary ? { binary: probe.binary } : {}),
    fingerprint: probe.fingerprint,
    fingerprintHash: fingerprintHash(probe.fingerprint),
  };
}

export async function previousLock(config: ProjectConfig, check: boolean): Promise<LockDocument | null> {
  // An unreadable lockfile stops the build (LOCKFILE_INVALID): replacing it with what this run
  // knows would drop the entries of every plugin it does not build.
  const lock = await readLockfile(config.lockfile);
  if (check && !lock) {
    throw new BuilderError('LOCKFILE_MISSING', `--check needs a lockfile, and ${config.lockfile} does not exist.`, {
      fix: 'Run `builder build` first and commit the lockfile it writes.',
    });
  }
  return lock;
}

/** `current` when it is a canonical lockfile saying what `lock` says (the generator aside), else null. */
export function unchangedLockText(current: string, lock: LockDocument): string | null {
  try {
    const parsed = parseLockDocument(current);
    return serializeLockfile(parsed) === current && sameLockContent(parsed, lock) ? current : null;
  } catch {
    return null;
  }
}

/**
 * Where a lockfile section says something this run did not find: every field the build writes
 * (host and builder sections, each plugin's entry), compared with what it wrote now. Only the
 * plugins' artifact hashes are left to the per-plugin verdicts. Claims the probes contradict, or
 * that no build writes (a forged pluginPath, deps, a source that does not exist), fail --check.
 */
export function lockfileClaims(previous: Lockfile, fresh: Lockfile, unproven: boolean): string[] {
  // --check --no-prove did not load anything, so it has nothing to say about the proofs.
  const strip = (lock: Lockfile) => ({
    host: lock.host,
    builder: lock.builder,
    plugins: Object.fromEntries(Object.entries(lock.plugins).map(([name, { sha256: _, size: __, proof, ...rest }]) => [name, unproven ? rest : { ...rest, ...(proof ? { proof } : {}) }])),
  });
  const out = jsonDifferences(strip(previous), strip(fresh), '', 8);
  for (const role of ['host', 'builder'] as const) {
    if (previous[role].fingerprintHash !== fingerprintHash(previous[role].fingerprint)) out.push(`${role}.fingerprintHash is not the hash of its fingerprint`);
  }
  return out;
}

/**
 * `build NAME… --sign-key` keeps the other plugins as the lockfile has them, and the key would
 * sign those entries too. The repository's lockfile is input: its entries are signed again only
 * when this key signed them before (a valid signature of the very lockfile they come from) and
 * their artifacts are the locked bytes. Otherwise a hand-edited entry would come out signed.
 */
export function refuseToVouchForKept(plugins: readonly PluginReport[], config: ProjectConfig, current: string | null, envelope: string | null, signer: LockfileSigner): void {
  const kept = plugins.filter((p) => p.status === 'kept');
  if (kept.length === 0) return;
  const names = kept.map((p) => p.name).join(', ');
  const stale = kept.filter((p) => p.stale);
  if (stale.length > 0) {
    throw new BuilderError('HASH_MISMATCH', `Refusing to sign: ${stale.map((p) => `${p.name} (${p.file})`).join(', ')} ${stale.length === 1 ? 'is' : 'are'} kept as locked, but the artifact on disk is not the locked one. Nothing was written.`, {
      fix: 'Build them too (name them, or build everything), then sign.',
    });
  }
  if (current === null || envelope === null || signer.vouched(current, envelope) === null) {
    throw new BuilderError('UNSIGNED_KEPT_PLUGINS', `Refusing to sign: ${names} ${kept.length === 1 ? 'is' : 'are'} kept from ${config.lockfile}, which this key (${signer.keyId.slice(0, 16)}…) has not signed: the key would vouch for entries this build did not make. Nothing was written.`, {
      fix: 'Build every plugin with --sign-key (no names), or sign the current lockfile first (`builder sign --key KEY` checks every artifact).',
    });
  }
}

/**
 * The plugins not named, as the lockfile has them. They were built in the locked environment, so
 * the environment must still be that one: a lockfile whose builder section names one image and
 * whose entries were made by another would lie about them.
 */
export async function keptPlugins(config: ProjectConfig, previous: Lockfile | null, env: BuildEnvironment, named: readonly PluginConfig[], report: BuildReporter): Promise<PluginReport[]> {
  const others = config.plugins.filter((p) => !named.includes(p));
  const locked = others.flatMap((p) => {
    const entry = previous ? lockedPlugin(previous, p.name) : undefined;
    if (!entry) report({ type: 'step', message: `${p.name}: not named and not in the lockfile: left out of it (build it by name, or build everything)` });
    return entry ? [{ plugin: p, entry }] : [];
  });
  if (locked.length > 0 && previous && (previous.builder.imageId !== env.builder.imageId || previous.host.imageId !== env.host.imageId)) {
    const what = previous.host.imageId !== env.host.imageId ? `the host image (${previous.host.imageId.slice(0, 19)} → ${env.host.imageId.slice(0, 19)})` : `the builder image (${previous.builder.imageId.slice(0, 19)} → ${env.builder.imageId.slice(0, 19)})`;
    throw new BuilderError('ENVIRONMENT_CHANGED', `Cannot build only some plugins: ${what} changed since the lockfile, and the plugins not named were built for the old one.`, {
      fix: 'Build every plugin: `builder build` without names (`builder drift` shows what changed).',
    });
  }
  const reports: PluginReport[] = [];
  for (const { plugin, entry } of locked) {
    const intact = await artifactIntact(config.outDir, entry);
    reports.push({ ...entry, name: plugin.name, status: 'kept', seconds: 0, ...(intact ? {} : { stale: true }), reason: intact ? 'not named: kept as locked' : `not named: kept as locked, but ${entry.file} is missing or changed (build it)` });
  }
  return reports;
}

export function toLockfile(report: Pick<BuildReport, 'host' | 'builder' | 'plugins' | 'shard'>): Lockfile {
  const plugins: Lockfile['plugins'] = {};
  for (const p of report.plugins) {
    if (p.status === 'failed') continue;
    if (p.sha256 === undefined || p.size === undefined || p.inputsHash === undefined) continue;
    plugins[p.name] = {
      kind: p.kind,
      file: p.file,
      sha256: p.sha256,
      size: p.size,
      inputsHash: p.inputsHash,
      ...(p.goVersion ? { goVersion: p.goVersion } : {}),
      ...(p.pluginPath ? { pluginPath: p.pluginPath } : {}),
      ...(p.deps ? { deps: p.deps } : {}),
      ...(p.sources ? { sources: p.sources } : {}),
      ...(p.proof ? { proof: p.proof } : {}),
      ...(p.goModuleCheck ? { goModuleCheck: p.goModuleCheck } : {}),
    };
  }
  return { lockfileVersion: LOCKFILE_VERSION, host: report.host, builder: report.builder, plugins, ...(report.shard ? { shard: report.shard } : {}) };
}
