import { mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import type { PluginConfig, PluginKind, ProjectConfig } from '../config/config.js';
import type { DockerEngine } from '../docker/engine.js';
import { managedLabels } from '../docker/engine.js';
import { BuilderError, EXIT_UNUSABLE, LockfileError } from '../errors.js';
import { fingerprintHash } from '../env/fingerprint.js';
import type { ProbeCache } from '../env/probe-cache.js';
import type { ProbedImage } from '../env/probe-image.js';
import { readLockfile, writeLockfile } from '../lock/lockfile-io.js';
import { signaturePathFor } from '../trust/lockfile-signature.js';
import { writeFileAtomic } from '../util/write-file-atomic.js';
import { LOCKFILE_VERSION, lockedPlugin, type LockedEnvironment, type LockedGoModule, type Lockfile, serializeLockfile } from '../lock/lockfile.js';
import { runPool } from '../util/run-pool.js';
import { sha256FileHex } from '../util/sha256.js';
import type { BuildReporter } from './build-events.js';
import { buildPlugin, CACHE_VOLUME } from './build-plugin.js';
import { collectPluginSources } from './collect-plugin-sources.js';
import { goFacts, refuseGoModuleMismatches } from './go-facts.js';
import { planPluginBuild } from './plan-plugin-build.js';
import { type BuildEnvironment, resolveEnvironment } from './resolve-environment.js';
import { cCompiler } from './toolchain.js';

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
}

export interface LockfileSigner {
  keyId: string;
  /** The DSSE envelope text for these exact lockfile bytes. */
  sign(lock: Lockfile, lockfileText: string): string;
}

export interface BuildOptions {
  check: boolean;
  /** Build go-plugins even when their modules differ from the host's (to see the failure for real). */
  skipGoModuleCheck?: boolean;
  /** Plugins built at once; default: the number of CPUs. */
  jobs?: number;
  /** Use the persistent compiler cache volume (default true). It never changes the artifacts. */
  cache?: boolean;
}

/** built/unchanged: ready to lock; identical/differs: --check verdicts. */
export type PluginStatus = 'built' | 'unchanged' | 'failed' | 'identical' | 'differs';

export interface PluginReport {
  name: string;
  kind: PluginKind;
  file: string;
  status: PluginStatus;
  seconds: number;
  sha256?: string;
  size?: number;
  inputsHash?: string;
  goVersion?: string;
  deps?: LockedGoModule[];
  /** With --check: what the lockfile says (absent when the plugin is not in it). */
  lockedSha256?: string;
  reason?: string;
  output?: string;
}

export interface BuildReport {
  outcome: 'built' | 'failed' | 'check-passed' | 'check-failed';
  lockfile: string;
  outDir: string;
  host: LockedEnvironment;
  builder: LockedEnvironment & { toolchain: Record<string, string>; base?: LockedEnvironment };
  plugins: PluginReport[];
  /** Where the lockfile's signature was written, and by which key (with a signer). */
  signature?: { path: string; keyId: string };
}

function locked(probe: ProbedImage & { binary?: string }, image = probe.image): LockedEnvironment {
  return {
    image,
    imageId: probe.imageId,
    ...(probe.binary ? { binary: probe.binary } : {}),
    fingerprint: probe.fingerprint,
    fingerprintHash: fingerprintHash(probe.fingerprint),
  };
}

async function previousLock(config: ProjectConfig, check: boolean, report: BuildReporter): Promise<Lockfile | null> {
  try {
    const lock = await readLockfile(config.lockfile);
    if (check && !lock) {
      throw new BuilderError('LOCKFILE_MISSING', `--check needs a lockfile, and ${config.lockfile} does not exist.`, {
        fix: 'Run `builder build` first and commit the lockfile it writes.',
        exitCode: EXIT_UNUSABLE,
      });
    }
    return lock;
  } catch (err) {
    // A build replaces an unreadable lockfile; only --check needs it intact.
    if (err instanceof LockfileError && !check) {
      report({ type: 'step', message: `ignoring the unreadable lockfile (it will be replaced): ${err.message}` });
      return null;
    }
    throw err;
  }
}

/** The locked artifact on disk is exactly the locked bytes. */
async function artifactIntact(outDir: string, entry: Lockfile['plugins'][string] | undefined): Promise<boolean> {
  if (!entry) return false;
  return sha256FileHex(join(outDir, entry.file)).then((sha) => sha === entry.sha256, () => false);
}

/**
 * `builder build`: resolve and check the environment, then build every plugin whose inputs
 * changed in a fresh container (at most `jobs` at once) and — only when every plugin built —
 * move the artifacts into outDir and write the lockfile. A plugin whose inputs hash equals the
 * lockfile's and whose artifact is intact is not rebuilt. With `check`, rebuild everything and
 * compare with the lockfile; write nothing.
 */
export async function buildProject(config: ProjectConfig, options: BuildOptions, ctx: BuildContext): Promise<BuildReport> {
  const { engine, report } = ctx;
  const now = ctx.now ?? Date.now;
  await engine.ping();
  const previous = await previousLock(config, options.check, report);
  const env = await resolveEnvironment(engine, config, previous, {
    report,
    recipeDir: ctx.recipeDir,
    now,
    ...(ctx.probeCache ? { probeCache: ctx.probeCache } : {}),
  });
  await refuseGoModuleMismatches(config, env.host, options.skipGoModuleCheck === true, report);
  const cache = options.cache !== false;
  if (cache) await engine.ensureVolume(CACHE_VOLUME, managedLabels('cache'));

  const stagingParent = dirname(config.outDir);
  await mkdir(stagingParent, { recursive: true });
  // Staging beside outDir: same filesystem, so moving artifacts in is a rename.
  const staging = await mkdtemp(join(stagingParent, '.builder-staging-'));
  const artifacts = new Map<string, string>();
  try {
    const jobs = Math.max(1, options.jobs ?? cpus().length);
    const plugins = await runPool(config.plugins, jobs, (plugin) =>
      buildOne(plugin, { config, options, ctx, env, previous, staging, cache, artifacts, now }),
    );
    const result = {
      lockfile: config.lockfile,
      outDir: config.outDir,
      host: locked(env.host),
      builder: {
        ...locked(env.builder, env.builderImage.tag),
        toolchain: env.toolchain,
        ...(config.builderBase ? { base: locked(env.base) } : {}),
      },
      plugins,
    };
    if (plugins.some((p) => p.status === 'failed')) return { outcome: 'failed', ...result };
    if (options.check) {
      for (const [name, entry] of Object.entries(previous?.plugins ?? {})) {
        if (config.plugins.some((p) => p.name === name)) continue;
        plugins.push({ name, kind: entry.kind, file: entry.file, status: 'differs', seconds: 0, reason: 'in the lockfile but not in the config' });
      }
      return { outcome: plugins.every((p) => p.status === 'identical') ? 'check-passed' : 'check-failed', ...result };
    }

    await mkdir(config.outDir, { recursive: true });
    for (const plugin of plugins) {
      const staged = artifacts.get(plugin.name);
      if (staged) await rename(staged, join(config.outDir, plugin.file));
    }
    const lock = toLockfile(result);
    const text = serializeLockfile(lock);
    const envelope = ctx.signer?.sign(lock, text);
    // An unchanged project leaves its lockfile untouched (same bytes, same mtime).
    const current = await readFile(config.lockfile, 'utf8').catch(() => null);
    if (current !== text) await writeLockfile(config.lockfile, lock);
    const signature = await writeSignature(config.lockfile, envelope, current !== text, report);
    return { outcome: 'built', ...result, ...(signature && ctx.signer ? { signature: { path: signature, keyId: ctx.signer.keyId } } : {}) };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

interface PluginJob {
  config: ProjectConfig;
  options: BuildOptions;
  ctx: BuildContext;
  env: BuildEnvironment;
  previous: Lockfile | null;
  staging: string;
  cache: boolean;
  artifacts: Map<string, string>;
  now: () => number;
}

async function buildOne(plugin: PluginConfig, job: PluginJob): Promise<PluginReport> {
  const { config, env, previous, ctx } = job;
  const sources = await collectPluginSources(plugin, config.projectDir);
  const plan = planPluginBuild(
    plugin,
    { files: sources.files, workdir: sources.workdir, hasGoMod: sources.goMod !== null },
    {
      builderImageId: env.builder.imageId,
      sourceDateEpoch: config.sourceDateEpoch,
      cCompiler: cCompiler(env.manager, env.target),
      cache: job.cache,
      ...(env.host.fingerprint.go ? { goHostSettings: env.host.fingerprint.go.settings } : {}),
    },
  );
  const base = { name: plugin.name, kind: plugin.kind, file: plan.file, inputsHash: plan.inputsHash };
  const lockedEntry = previous ? lockedPlugin(previous, plugin.name) : undefined;
  if (!job.options.check && lockedEntry?.inputsHash === plan.inputsHash && lockedEntry.file === plan.file && (await artifactIntact(config.outDir, lockedEntry))) {
    ctx.report({ type: 'plugin-unchanged', name: plugin.name });
    return { ...lockedEntry, ...base, status: 'unchanged', seconds: 0 };
  }

  ctx.report({ type: 'plugin-start', name: plugin.name, kind: plugin.kind });
  const t0 = job.now();
  const outcome = await buildPlugin(ctx.engine, env.builder.imageId, plan, config.projectDir, sources.files, job.staging);
  const seconds = (job.now() - t0) / 1000;
  if (!outcome.ok) {
    ctx.report({ type: 'plugin-failed', name: plugin.name, seconds, reason: outcome.reason, output: outcome.output });
    return { ...base, seconds, status: 'failed', reason: outcome.reason, output: outcome.output };
  }
  ctx.report({ type: 'plugin-built', name: plugin.name, seconds, sha256: outcome.sha256, size: outcome.size });
  job.artifacts.set(plugin.name, outcome.path);
  const go = plugin.kind === 'c' ? {} : await goFacts(outcome.path, env.toolchain.go, sources.goMod);
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

export function toLockfile(report: Pick<BuildReport, 'host' | 'builder' | 'plugins'>): Lockfile {
  const plugins: Lockfile['plugins'] = {};
  for (const p of report.plugins) {
    if (p.sha256 === undefined || p.size === undefined || p.inputsHash === undefined) continue;
    plugins[p.name] = {
      kind: p.kind,
      file: p.file,
      sha256: p.sha256,
      size: p.size,
      inputsHash: p.inputsHash,
      ...(p.goVersion ? { goVersion: p.goVersion } : {}),
      ...(p.deps ? { deps: p.deps } : {}),
    };
  }
  return { lockfileVersion: LOCKFILE_VERSION, host: report.host, builder: report.builder, plugins };
}

/**
 * Keep `<lockfile>.sig` in step with the lockfile: write the new envelope (Ed25519 is
 * deterministic, so an unchanged lockfile keeps identical bytes), or, for an unsigned build that
 * changed the lockfile, remove the old signature — it no longer matches and a host would refuse it.
 */
async function writeSignature(lockfile: string, envelope: string | undefined, lockChanged: boolean, report: BuildReporter): Promise<string | null> {
  const path = signaturePathFor(lockfile);
  const existing = await readFile(path, 'utf8').catch(() => null);
  if (envelope !== undefined) {
    if (existing !== envelope) await writeFileAtomic(path, envelope);
    return path;
  }
  if (existing !== null && lockChanged) {
    await rm(path, { force: true });
    report({ type: 'step', message: `removed ${path}: it signed the previous lockfile (sign this one with \`builder sign --key KEY\`)` });
  }
  return null;
}
