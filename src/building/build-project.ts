import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, realpath, rm } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { type PluginConfig, type PlatformTarget, platformTargets, type ProjectConfig } from '../config/config.js';
import type { DockerEngine } from '../docker/engine.js';
import { managedLabels } from '../docker/engine.js';
import { BuilderError, CancelledError, describeCause, EngineLostError, EngineRequestError, EngineTimeoutError, OutputWriteError } from '../errors.js';
import type { ProbeCache } from '../env/probe-cache.js';
import { lockfileText } from '../lock/lockfile-io.js';
import { pluginsOfShard, type Shard, type ShardRecord, sortedNames } from '../shard/shard.js';
import { signaturePathFor } from '../trust/lockfile-signature.js';
import { MAX_SERIAL_AHEAD_MS } from '../trust/statement.js';
import { currentProcess } from '../util/process-identity.js';
import { isMultiPlatform, type LockDocument, LOCKFILE_VERSION, type LockedEnvironment, lockSectionFor, type Lockfile } from '../lock/lockfile.js';
import { lockGenerator } from '../version.js';
import { runPool } from '../util/run-pool.js';
import type { BuildReporter } from './build-events.js';
import { buildPlugin } from './build-plugin.js';
import { type ArtifactToProve, modelDisagreement, proveArtifacts } from './prove-artifacts.js';
import { CACHE_DOMAIN_LABEL, type CacheScope, compilerCacheScope } from './cache-scope.js';
import { isCFamily } from '../config/schema.js';
import { isInside } from '../config/validate-config.js';
import { commitOutputs } from '../lock/commit-outputs.js';
import { type CompilerCacheEvent, describeCompilerCacheEvent, pushCompilerCache, restoreCompilerCache } from './compiler-cache.js';
import { acquireProjectLock } from './project-lock.js';
import { goFacts, packageMismatchReason, refuseGoModuleMismatches } from './go-facts.js';
import { artifactFile } from './plan-plugin-build.js';
import { resolveEnvironment } from './resolve-environment.js';
import { cCompiler } from './toolchain.js';
import type { PluginReport, BuildReport } from './build-report.js';
import { RUN_LABEL, OWNER_LABEL, STAGING_PREFIX, HEARTBEAT_MS, ownerLabel, removeLeftovers, removeRunContainers } from './leftovers.js';
import { artifactIntact, type DecisionInputs, sourceHashes, decidePlugin } from './plugin-decision.js';
import { locked, previousLock, unchangedLockText, lockfileClaims, refuseToVouchForKept, keptPlugins, toLockfile } from './lock-assembly.js';
import { settled } from '../util/settled.js';
import type { LockfileSigner } from './lock-signer.js';

export interface BuildContext {
  engine: DockerEngine;
  report: BuildReporter;
  /** Directory with Dockerfile.builder and images/ (the package root). */
  recipeDir: string;
  now?: () => number;
  /** Signs the lockfile written (`builder build --sign-key`): its envelope goes to `<lockfile>.sig`. */
  signer?: LockfileSigner;
  /** Remembers probes by image ID across builds (the CLI uses a file in the user's cache). */
  probeCache?: ProbeCache;
  /** Stops the run (its reason is what the build throws): signals, a closed stdout. */
  signal?: AbortSignal;
}

export interface BuildOptions {
  check: boolean;
  /** Build go-plugins even when their modules or package hashes differ from the host's (to see the failure for real). */
  skipGoModuleCheck?: boolean;
  /** Pull the host image from its registry when the engine does not have it. */
  pull?: boolean;
  /** Registry repositories to take the builder image from / put it in, under its input tag (fresh CI runners). */
  cacheFrom?: string;
  cacheTo?: string;
  /** Plugins built at once; default: the number of CPUs. */
  jobs?: number;
  /** Use the persistent compiler cache volume (default true). It never changes the artifacts. */
  cache?: boolean;
  /** Wait for another build of the project to finish (default) instead of failing at once. */
  wait?: boolean;
  /** Build only shard K of N (see shard.ts); the lockfile then records the shard, for `builder lock merge`. */
  shard?: Shard;
  /** Build only these plugins (`builder build NAME…`); the others stay as the lockfile has them. */
  only?: readonly string[];
  /** Load every new artifact for real in the host image before locking it (default true; `--no-prove`). */
  prove?: boolean;
  /** A proof whose loads take longer is stopped and the artifact being loaded fails (default 120 s). */
  proveTimeoutMs?: number;
}

/** Create outDir and the lockfile's directory before building, and check they are still inside the project. */
async function prepareDestinations(config: ProjectConfig): Promise<void> {
  for (const dir of [config.outDir, dirname(config.lockfile)]) {
    await mkdir(dir, { recursive: true }).catch((err: unknown) => {
      throw new OutputWriteError(dir, err, 'create the directory');
    });
    // A link swapped in since the config was checked would send the outputs elsewhere.
    const real = await realpath(dir);
    if (!isInside(await realpath(config.projectDir), real)) {
      throw new BuilderError('OUTPUT_OUTSIDE_PROJECT', `${dir} now resolves to ${real}, outside the project: a symbolic link appeared on the way after the config was checked.`, {
        fix: `Remove the link; outDir and the lockfile must stay inside the project ${config.projectDir}.`,
      });
    }
  }
}

/** Errors that end the whole run rather than one plugin: the engine is gone, or the run was stopped. */
function endsTheRun(err: unknown): boolean {
  return err instanceof EngineLostError || err instanceof EngineTimeoutError || err instanceof EngineRequestError || err instanceof CancelledError;
}

/**
 * `builder build`: resolve and check the environment, then build every plugin whose inputs
 * changed in a fresh container (at most `jobs` at once) and — only when every plugin built —
 * move the artifacts into outDir and write the lockfile, all or nothing. A plugin whose inputs
 * hash equals the lockfile's and whose artifact is intact is not rebuilt. With `check`, rebuild
 * everything and compare with the lockfile; write nothing.
 *
 * One build per project at a time (an inter-process lock beside the lockfile). `ctx.signal`
 * stops the run: every container of the run is removed, staging too, outputs untouched.
 */
export async function buildProject(whole: ProjectConfig, options: BuildOptions, ctx: BuildContext): Promise<BuildReport> {
  const { report } = ctx;
  const shard: ShardRecord | undefined = options.shard && { ...options.shard, plugins: sortedNames(whole.plugins.map((p) => p.name)) };
  const config = shard ? { ...whole, plugins: whole.plugins.filter((p) => pluginsOfShard(shard.plugins, shard).includes(p.name)) } : whole;
  refuseUnknownNames(whole, options);
  const targets = platformTargets(config);
  const wholeTargets = platformTargets(whole);
  const now = ctx.now ?? Date.now;
  ctx.signal?.throwIfAborted();
  await ctx.engine.ping();
  // Destinations first: the lock lives beside the lockfile, and a directory that cannot be made
  // should fail the build before minutes are spent on it.
  await prepareDestinations(config);
  for (const target of targets) if (target.dir) await prepareDestinations(target.config);
  const lock = await acquireProjectLock(config.lockfile, {
    wait: options.wait !== false,
    ...(ctx.signal ? { signal: ctx.signal } : {}),
    onWait: (holder) => report({ type: 'step', message: `waiting for the build of pid ${holder.pid} on ${holder.host} (since ${holder.since}) to finish (--no-wait to fail instead)` }),
  });
  // Stopped by the caller, or by this run when a plugin's error ends it (the engine is gone).
  const stop = new AbortController();
  const signal = ctx.signal ? AbortSignal.any([ctx.signal, stop.signal]) : stop.signal;
  const runId = randomBytes(8).toString('hex');
  const engine = ctx.engine.scoped({ signal, labels: { [RUN_LABEL]: runId, [OWNER_LABEL]: ownerLabel(currentProcess()) } });
  let staging: string | null = null;
  try {
    report({ type: 'step', message: `run ${runId} on ${engine.endpoint} (its containers carry the label ${RUN_LABEL}=${runId})` });
    // Independent of each other, and each waits on I/O: one round trip's worth of start-up saved.
    const [, previousDocument] = await settled(removeLeftovers(engine, config, report), previousLock(config, options.check));
    // --check compiles from source alone: a proof of reproducibility must not go through the
    // cache whose entries it would be vouching for.
    const cache = options.cache !== false && !options.check;
    const cacheScope = compilerCacheScope(config.projectDir);
    if (cache) await engine.ensureVolume(cacheScope.volume, { ...managedLabels('cache'), [CACHE_DOMAIN_LABEL]: cacheScope.domain });
    // Staging inside outDir: the same filesystem even when outDir is a mount point, so moving
    // artifacts in is a rename.
    staging = await mkdtemp(join(config.outDir, STAGING_PREFIX)).catch((err: unknown) => {
      throw new OutputWriteError(join(config.outDir, `${STAGING_PREFIX}*`), err, 'create the staging directory');
    });

    const compilerCache: CompilerCacheEvent[] = [];
    const onCompilerCache = (event: CompilerCacheEvent) => {
      compilerCache.push(event);
      report({ type: 'step', message: describeCompilerCacheEvent(event) });
    };
    const results: PlatformResult[] = [];
    for (const [i, target] of targets.entries()) {
      const previous = lockSectionFor(previousDocument, target.platform);
      const platformStaging = target.dir ? join(staging, target.dir) : staging;
      if (target.dir) await mkdir(platformStaging);
      const run = { ...ctx, engine, report: target.platform ? platformReporter(report, target.platform) : report };
      results.push(await buildPlatform(target, wholeTargets[i]!.config, previous, platformStaging, { options, run, cache, cacheScope, now, signal, stop, onCompilerCache }));
    }

    const multi = config.hostPlatforms !== null;
    const [first] = results as [PlatformResult];
    const plugins = results.flatMap((r) => r.plugins);
    const result = {
      lockfile: config.lockfile,
      outDir: config.outDir,
      host: first.host,
      builder: first.builder,
      builderImageSource: first.builderImageSource,
      plugins,
      ...(multi ? { platforms: results.map(({ platform, host, builder, builderImageSource }) => ({ platform: platform!, host, builder, builderImageSource })) } : {}),
      ...(shard ? { shard } : {}),
      ...(cache && (options.cacheFrom || options.cacheTo) ? { compilerCache } : {}),
    };
    if (plugins.some((p) => p.status === 'failed')) return { outcome: 'failed', ...result };
    if (options.check) {
      if (options.only) {
        const named = plugins.filter((p) => p.status !== 'kept');
        return { outcome: named.every((p) => p.status === 'identical') ? 'check-passed' : 'check-failed', ...result, plugins: named };
      }
      for (const r of results) {
        for (const [name, entry] of Object.entries(r.previous?.plugins ?? {})) {
          if (whole.plugins.some((p) => p.name === name)) continue;
          plugins.push({ name, kind: entry.kind, file: entry.file, status: 'differs', seconds: 0, reason: 'in the lockfile but not in the config', ...(r.platform ? { platform: r.platform } : {}) });
        }
      }
      // Everything else the lockfile says is a claim too: it must be what this build wrote.
      for (const r of results) {
        const lied = r.previous ? lockfileClaims(r.previous, toLockfile(r), options.prove === false) : [];
        if (lied.length === 0) continue;
        const reason = `the lockfile says what this build did not find: ${lied.join('; ')}`;
        for (const p of plugins) if (p.status === 'identical' && (p.platform ?? null) === r.platform) Object.assign(p, { status: 'differs', reason });
      }
      if (previousDocument && isMultiPlatform(previousDocument) !== multi) {
        for (const p of plugins) if (p.status === 'identical') Object.assign(p, { status: 'differs', reason: multi ? 'the lockfile has one host section; the config names host.platforms' : 'the lockfile has a section per platform; the config names one host.image' });
      }
      return { outcome: plugins.every((p) => p.status === 'identical') ? 'check-passed' : 'check-failed', ...result };
    }

    // Before anything is written: a failed push fails the build (it was asked for) with nothing half-done.
    if (cache && options.cacheTo && plugins.some((p) => p.status === 'built')) {
      await pushCompilerCache(engine, first.builder.imageId, cacheScope.volume, options.cacheTo, results.map((r) => r.builder.image), { now, onEvent: onCompilerCache });
    }

    const fresh: LockDocument = multi
      ? {
          lockfileVersion: LOCKFILE_VERSION,
          platforms: Object.fromEntries(results.map((r) => { const { lockfileVersion: _, shard: __, ...section } = toLockfile(r); return [r.platform!, section]; })),
          ...(shard ? { shard } : {}),
        }
      : toLockfile({ ...first, ...(shard ? { shard } : {}) });
    const lockData: LockDocument = { ...fresh, generator: lockGenerator() };
    // An unchanged project leaves its lockfile untouched (same bytes, same mtime), whichever
    // version of the tool wrote it.
    const current = await readFile(config.lockfile, 'utf8').catch(() => null);
    const text = (current !== null && unchangedLockText(current, lockData)) || lockfileText(config.lockfile, lockData);
    const signaturePath = signaturePathFor(config.lockfile);
    const existingSignature = await readFile(signaturePath, 'utf8').catch(() => null);
    if (ctx.signer) refuseToVouchForKept(plugins, config, current, existingSignature, ctx.signer);
    // An unchanged lockfile this key already signed keeps its signature (and so its serial): a
    // new serial would make hosts refuse the sets signed in between as rollbacks for nothing.
    const kept = ctx.signer && current === text && existingSignature !== null ? ctx.signer.vouched(text, existingSignature) : null;
    // Not a signature without a serial (an older tool's), nor one dated far ahead (a wrong clock).
    const keep = kept !== null && kept > 0 && kept <= now() + MAX_SERIAL_AHEAD_MS;
    const envelope = keep ? existingSignature! : ctx.signer?.sign(lockData, text, existingSignature);
    const signature =
      envelope !== undefined
        ? existingSignature === envelope ? undefined : { path: signaturePath, text: envelope }
        : existingSignature !== null && current !== text ? { path: signaturePath, text: null } : undefined;
    signal.throwIfAborted();
    await commitOutputs(
      {
        artifacts: results.flatMap((r) =>
          r.plugins.flatMap((p) => {
            const staged = r.artifacts.get(p.name);
            return staged ? [{ staged, dest: join(r.outDir, p.file) }] : [];
          }),
        ),
        lockfile: { path: config.lockfile, text: current === text ? null : text },
        ...(signature ? { signature } : {}),
      },
      staging,
    );
    if (signature && signature.text === null) {
      report({ type: 'step', message: `removed ${signaturePath}: it signed the previous lockfile (sign this one with \`builder sign --key KEY\`)` });
    }
    return { outcome: 'built', ...result, ...(envelope !== undefined && ctx.signer ? { signature: { path: signaturePath, keyId: ctx.signer.keyId } } : {}) };
  } catch (err) {
    throw signal.aborted ? signal.reason : err;
  } finally {
    if (staging) await rm(staging, { recursive: true, force: true });
    // Containers whose create call was in flight when the run stopped are known only by label.
    if (signal.aborted) await removeRunContainers(ctx.engine, runId).catch(() => undefined);
    await lock.release();
  }
}

/** Plugin names given on the command line (`build NAME…`, `plan NAME…`) must be the config's. */
export function refuseUnknownPlugins(config: ProjectConfig, names: readonly string[]): void {
  const known = config.plugins.map((p) => p.name);
  const unknown = names.filter((name) => !known.includes(name));
  if (unknown.length > 0) {
    throw new BuilderError('UNKNOWN_PLUGIN', `No plugin named ${unknown.map((n) => JSON.stringify(n)).join(', ')} in ${config.configFile}.`, {
      fix: `Name one of: ${known.join(', ')}.`,
    });
  }
}

function refuseUnknownNames(config: ProjectConfig, options: BuildOptions): void {
  if (!options.only) return;
  refuseUnknownPlugins(config, options.only);
  if (options.shard) throw new BuilderError('BAD_OPTION', 'Plugin names and --shard do not go together: a shard is its own subset.');
}

/** What one platform's share of a build produced (the whole build for a single-platform config). */
interface PlatformResult {
  platform: string | null;
  outDir: string;
  previous: Lockfile | null;
  host: LockedEnvironment;
  builder: BuildReport['builder'];
  builderImageSource: BuildReport['builderImageSource'];
  plugins: PluginReport[];
  /** Plugin name → its staged artifact. */
  artifacts: Map<string, string>;
}

/** Progress of one platform's share, labelled with it: the same plugin is built once per platform. */
function platformReporter(report: BuildReporter, platform: string): BuildReporter {
  return (event) => {
    if (event.type === 'step') report({ ...event, message: `[${platform}] ${event.message}` });
    else if ('name' in event) report({ ...event, name: `${event.name} [${platform}]` });
    else report(event);
  };
}

async function buildPlatform(
  target: PlatformTarget,
  wholeConfig: ProjectConfig,
  previous: Lockfile | null,
  staging: string,
  run: { options: BuildOptions; run: BuildContext; cache: boolean; cacheScope: CacheScope; now: () => number; signal: AbortSignal; stop: AbortController; onCompilerCache: (event: CompilerCacheEvent) => void },
): Promise<PlatformResult> {
  const { config } = target;
  const { options, cache, cacheScope, now, signal, stop } = run;
  const { engine, report } = run.run;
  // The whole project's plugin kinds choose the toolchain: every shard gets the same builder image.
  const env = await resolveEnvironment(engine, { ...wholeConfig, hostImage: config.hostImage }, {
    report,
    ...(target.platform ? { platform: target.platform } : {}),
    recipeDir: run.run.recipeDir,
    now,
    // --check probes afresh: its verdict rests on nothing remembered.
    ...(run.run.probeCache && !options.check ? { probeCache: run.run.probeCache } : {}),
    pull: options.pull === true,
    builderCache: { ...(options.cacheFrom ? { from: options.cacheFrom } : {}), ...(options.cacheTo ? { to: options.cacheTo } : {}) },
  });
  await refuseGoModuleMismatches(config, env.host, options.skipGoModuleCheck === true, report);
  if (cache && options.cacheFrom) await restoreCompilerCache(engine, env.builderImage.id, cacheScope.volume, options.cacheFrom, env.builderImage.tag, { now, onEvent: run.onCompilerCache });
  const artifacts = new Map<string, string>();
  const jobs = Math.max(1, options.jobs ?? cpus().length);
  const job: PluginJob = { config, options, ctx: run.run, env, previous, staging, cache, cacheVolume: cacheScope.volume, artifacts, now };
  const platformField = target.platform ? { platform: target.platform } : {};
  const named = options.only ? config.plugins.filter((p) => options.only!.includes(p.name)) : config.plugins;
  const kept = options.only ? await keptPlugins(config, previous, env, named, report) : [];
  const built = await runPool(
    named,
    jobs,
    async (plugin): Promise<PluginReport> => {
      try {
        return { ...(await buildOne(plugin, job)), ...platformField };
      } catch (err) {
        if (signal.aborted || endsTheRun(err)) {
          if (!stop.signal.aborted) stop.abort(signal.aborted ? signal.reason : err);
          throw signal.reason;
        }
        // Any other error is this plugin's failure; the others go on.
        const reason = err instanceof BuilderError && err.fix ? `${err.message} ${err.fix}` : describeCause(err);
        report({ type: 'plugin-failed', name: plugin.name, seconds: 0, reason, output: '', outputBytes: 0 });
        return { name: plugin.name, kind: plugin.kind, file: artifactFile(plugin.name), status: 'failed' as const, seconds: 0, reason, ...platformField };
      }
    },
    signal,
  );
  await proveBuilt(built, job, { prove: options.prove !== false, ...(options.proveTimeoutMs ? { limitMs: options.proveTimeoutMs } : {}) });
  const plugins = [...built, ...kept.map((p) => ({ ...p, ...platformField }))].sort((a, b) => config.plugins.findIndex((p) => p.name === a.name) - config.plugins.findIndex((p) => p.name === b.name));
  return {
    platform: target.platform,
    outDir: config.outDir,
    previous,
    host: locked(env.host),
    builder: {
      ...locked(env.builder, env.builderImage.tag),
      toolchain: env.toolchain,
      ...(config.builderBase ? { base: locked(env.base) } : {}),
    },
    builderImageSource: env.builderImage.source,
    plugins,
    artifacts,
  };
}

/**
 * Every artifact this run locks is loaded for real in the host image first (src/proof/): one that
 * does not load fails its plugin with the loader's own words, and nothing is written for it.
 */
async function proveBuilt(reports: PluginReport[], job: PluginJob, how: { prove: boolean; limitMs?: number }): Promise<void> {
  const lockable = reports.filter((p) => p.status !== 'failed' && p.status !== 'kept' && p.sha256 !== undefined && p.size !== undefined);
  if (lockable.length === 0) return;
  const artifacts: ArtifactToProve[] = lockable.map((p) => ({
    name: p.name,
    file: p.file,
    path: job.artifacts.get(p.name) ?? join(job.config.outDir, p.file),
    sha256: p.sha256!,
    size: p.size!,
    // Only an unchanged artifact may keep the lockfile's proof (made on this same host image).
    ...(p.status === 'unchanged' && p.proof ? { locked: p.proof } : {}),
  }));
  const outcomes = await proveArtifacts(job.ctx.engine, job.config, job.env, artifacts, { ...how, cCompiler: cCompiler(job.env.manager, job.env.target), report: job.ctx.report });
  for (const p of lockable) {
    const outcome = outcomes.get(p.name)!;
    if (outcome.failure === undefined) {
      p.proof = outcome.proof;
      continue;
    }
    const artifact = artifacts.find((a) => a.name === p.name)!;
    const disagreement = artifact.path ? await modelDisagreement(job.ctx.engine, job.env, { ...artifact, path: artifact.path, kind: p.kind }, outcome.failure) : null;
    const reason = `built, but does not load in the host image ${job.env.host.image}: ${outcome.failure}${disagreement ? ` (${disagreement})` : ''}`;
    job.ctx.report({ type: 'plugin-failed', name: p.name, seconds: p.seconds, reason, output: '', outputBytes: 0 });
    job.artifacts.delete(p.name);
    Object.assign(p, { status: 'failed', reason, output: '', outputBytes: 0 });
    delete p.proof;
  }
}

interface PluginJob extends DecisionInputs {
  options: BuildOptions;
  ctx: BuildContext;
  staging: string;
  cacheVolume: string;
  artifacts: Map<string, string>;
  now: () => number;
}

async function buildOne(plugin: PluginConfig, job: PluginJob): Promise<PluginReport> {
  const { config, env, ctx } = job;
  const { sources, plan, refused: layoutRefused, moves, lockedEntry, inputsMatch } = await decidePlugin(plugin, { ...job, skipGoModuleCheck: job.options.skipGoModuleCheck === true });
  const hostBinary = env.host.goBuildInfo;
  if (layoutRefused) {
    const base = { name: plugin.name, kind: plugin.kind, file: artifactFile(plugin.name), seconds: 0 };
    if (!job.options.skipGoModuleCheck) {
      ctx.report({ type: 'plugin-failed', name: plugin.name, seconds: 0, reason: layoutRefused, output: '', outputBytes: 0 });
      return { ...base, status: 'failed', reason: layoutRefused, output: '', outputBytes: 0 };
    }
    ctx.report({ type: 'step', message: `WARNING: building ${plugin.name} although it cannot load (--skip-go-module-check): ${layoutRefused}` });
  }
  if (moves.length > 0) {
    const where = moves.map((m) => `${m.module} from ${m.to}`).join(', ');
    ctx.report({ type: 'step', message: `${plugin.name}: ${config.hostBinary} was built without -trimpath: compiling ${where}, as the host did` });
  }
  const skipped = job.options.skipGoModuleCheck === true && plugin.kind === 'go-plugin';
  const base = { name: plugin.name, kind: plugin.kind, file: plan.file, inputsHash: plan.inputsHash, sources: sourceHashes(sources.files), ...(skipped ? { goModuleCheck: 'skipped' as const } : {}) };
  // --check rebuilds whatever is on disk: the artifact is only read (hashed) when it could be skipped.
  if (!job.options.check && inputsMatch && lockedEntry && (await artifactIntact(config.outDir, lockedEntry))) {
    ctx.report({ type: 'plugin-unchanged', name: plugin.name });
    return { ...lockedEntry, ...base, status: 'unchanged', seconds: 0 };
  }

  ctx.report({ type: 'plugin-start', name: plugin.name, kind: plugin.kind });
  const t0 = job.now();
  // A compile can be silent for minutes: say it is still going (and find out early that the output was closed).
  const heartbeat = setInterval(() => ctx.report({ type: 'plugin-progress', name: plugin.name, seconds: (job.now() - t0) / 1000 }), HEARTBEAT_MS);
  const outcome = await buildPlugin(ctx.engine, env.builder.imageId, plan, config.projectDir, sources.files, job.staging, job.cacheVolume).finally(() => clearInterval(heartbeat));
  const seconds = (job.now() - t0) / 1000;
  if (!outcome.ok) {
    ctx.report({ type: 'plugin-failed', name: plugin.name, seconds, reason: outcome.reason, output: outcome.output, outputBytes: outcome.outputBytes });
    return { ...base, seconds, status: 'failed', reason: outcome.reason, output: outcome.output, outputBytes: outcome.outputBytes };
  }
  const facts = isCFamily(plugin.kind) ? null : await goFacts(outcome.path, env.toolchain.go, sources.goMod);
  const refused = plugin.kind === 'go-plugin' && facts && hostBinary && config.hostBinary && !job.options.skipGoModuleCheck
    ? packageMismatchReason(facts.packageHashes, hostBinary, config.hostBinary)
    : null;
  if (refused) {
    ctx.report({ type: 'plugin-failed', name: plugin.name, seconds, reason: refused, output: '', outputBytes: 0 });
    return { ...base, seconds, status: 'failed', reason: refused, output: '', outputBytes: 0 };
  }
  ctx.report({ type: 'plugin-built', name: plugin.name, seconds, sha256: outcome.sha256, size: outcome.size });
  job.artifacts.set(plugin.name, outcome.path);
  const go = facts?.locked ?? {};
  if (!job.options.check) return { ...base, ...go, seconds, status: 'built', sha256: outcome.sha256, size: outcome.size };
  const lockedSha256 = lockedEntry?.sha256;
  const identical = lockedSha256 === outcome.sha256;
  return {
    ...base,
    ...go,
    seconds,
    status: identical ? 'identical' : 'differs',
    sha256: outcome.sha256,
    size: outcome.size,
    ...(lockedSha256 ? { lockedSha256 } : {}),
    ...(identical ? {} : { reason: lockedSha256 ? 'bytes differ from the lockfile' : 'not in the lockfile' }),
  };
}
