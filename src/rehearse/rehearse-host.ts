import { realpath } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { buildProject, type BuildContext } from '../building/build-project.js';
import { platformTargets, type ProjectConfig } from '../config/config.js';
import { BuilderError } from '../errors.js';
import type { DockerEngine } from '../docker/engine.js';
import type { FieldDifference } from '../errors.js';
import type { Lockfile } from '../lock/lockfile.js';
import { platformOfMachine } from '../lock/platform.js';
import { verifyPlugins, type PluginVerdict, type VerifyReport } from '../verify/verify-plugins.js';

/**
 * `builder rehearse`: a host upgrade tried before it is made. Every locked plugin is predicted
 * and really loaded in the candidate host image; those that do not load are rebuilt for the
 * candidate (into a side lockfile, proven by the build) — and the report says, per plugin,
 * whether it survives as locked, needs the rebuild (and got it), or cannot be made to load.
 */
export type RehearsalVerdict = 'survives' | 'rebuilt' | 'broken';

export interface RehearsedPlugin {
  name: string;
  verdict: RehearsalVerdict;
  /** The locked bytes in the candidate: proven (a real load) or predicted (the model alone), and how. */
  asLocked: { answer: 'proven' | 'predicted'; outcome: PluginVerdict['outcome']; message?: string; modelDisagrees?: boolean };
  /** The rebuild for the candidate, when the locked bytes did not load. */
  rebuilt?: { status: 'built' | 'failed'; sha256?: string; message?: string };
}

export interface RehearsalReport {
  outcome: RehearsalVerdict;
  candidate: string;
  candidateImageId: string;
  /** The candidate's environment against the lockfile's host (the runtime refuses a lockfile whose host differs). */
  environment: FieldDifference[];
  /** The program the real loads ran with, or why none could run. */
  realLoads: VerifyReport['real'];
  plugins: RehearsedPlugin[];
  /** The side lockfile of the rebuilt plugins, when there were any. */
  lockOut?: string;
}

export interface RehearsalRequest {
  config: ProjectConfig;
  /** The lockfile section of the platform rehearsed. */
  lock: Lockfile;
  /** Where the locked artifacts are. */
  dir: string;
  candidate: string;
  /** The side lockfile for plugins rebuilt for the candidate; their artifacts go beside it. */
  lockOut: string;
}

/**
 * The side lockfile must not be the project's, nor sit where the project's artifacts are: a
 * rehearsal would then replace what is locked with builds for a host that is not deployed yet.
 */
export async function refuseSideLockOverProject(config: ProjectConfig, lockOut: string): Promise<void> {
  const real = async (path: string) => realpath(path).catch(() => resolve(path));
  const outDir = await real(dirname(resolve(lockOut)));
  // The lockfile lies in its directory, so a side lockfile in any other directory cannot be it.
  const taken = [
    { dir: await real(dirname(config.lockfile)), what: "the project's lockfile directory" },
    ...(await Promise.all(platformTargets(config).map(async (t) => ({ dir: await real(t.config.outDir), what: `the project's plugin directory ${t.config.outDir}` })))),
  ];
  const clash = taken.find((t) => t.dir === outDir);
  if (clash) {
    throw new BuilderError('BAD_OPTION', `--lock-out ${lockOut} would write into ${clash.what}: a rehearsal never touches what is locked.`, {
      fix: 'Give --lock-out a file in a directory of its own (the default is rehearsal/builder.lock.json beside the lockfile).',
    });
  }
}

export async function rehearseHost(engine: DockerEngine, request: RehearsalRequest, ctx: Omit<BuildContext, 'engine'>): Promise<RehearsalReport> {
  await refuseSideLockOverProject(request.config, request.lockOut);
  const verify = await verifyPlugins(engine, {
    lock: request.lock,
    image: request.candidate,
    dir: request.dir,
    pluginsPath: '/app/plugins',
    real: true,
    ...(request.config.hostLoader ? { hostLoader: request.config.hostLoader } : {}),
  });
  // The engine keeps one platform per tag: a multi-platform candidate reference resolves to the
  // engine's own. Its files say which one it is; rebuilding for the wrong one would lock nonsense.
  if (verify.fingerprint.arch !== request.lock.host.fingerprint.arch) {
    const wanted = platformOfMachine(request.lock.host.fingerprint.arch) ?? request.lock.host.fingerprint.arch;
    const got = platformOfMachine(verify.fingerprint.arch) ?? verify.fingerprint.arch;
    throw new BuilderError('PLATFORM_MISMATCH', `the candidate ${request.candidate} is ${got} by its C library, but the lockfile section rehearsed is for ${wanted}.`, {
      fix: `Give the ${wanted} variant its own tag (docker pull --platform ${wanted} IMAGE, then docker tag) and rehearse that, or pass --platform ${got} for this one.`,
    });
  }
  const plugins: RehearsedPlugin[] = verify.plugins.map((p) => {
    const answer = p.answer ?? 'predicted';
    const message = p.real?.message ?? p.problems.filter((x) => x.check !== 'environment' && x.check !== 'bytes').map((x) => x.message).join('; ');
    const loads = p.bytes === 'ok' && p.outcome === 'loads';
    return {
      name: p.name,
      verdict: loads ? 'survives' : 'broken',
      asLocked: { answer, outcome: p.bytes === 'ok' ? p.outcome : 'unknown', ...(loads || !message ? {} : { message }), ...(p.model?.disagrees ? { modelDisagrees: true } : {}) },
    };
  });
  const failing = plugins.filter((p) => p.verdict !== 'survives');
  const configs = request.config.plugins.filter((c) => failing.some((p) => p.name === c.name));
  let lockOut: string | undefined;
  if (configs.length > 0) {
    const side: ProjectConfig = { ...request.config, hostImage: request.candidate, hostPlatforms: null, plugins: configs, outDir: dirname(request.lockOut), lockfile: request.lockOut };
    let build = await buildProject(side, { check: false, prove: true }, { ...ctx, engine });
    for (const failed of build.plugins.filter((b) => b.status === 'failed')) {
      const p = plugins.find((x) => x.name === failed.name);
      if (p) p.rebuilt = { status: 'failed', message: failed.reason ?? 'failed' };
    }
    // A build writes all or nothing: the ones that did rebuild get their side lockfile without the ones that cannot.
    const succeeded = build.plugins.filter((b) => b.status !== 'failed').map((b) => b.name);
    if (build.outcome !== 'built' && succeeded.length > 0) {
      build = await buildProject({ ...side, plugins: configs.filter((c) => succeeded.includes(c.name)) }, { check: false, prove: true }, { ...ctx, engine });
    }
    // "Rebuilt" only for what the side lockfile really holds.
    if (build.outcome === 'built') {
      lockOut = request.lockOut;
      for (const built of build.plugins) {
        const p = plugins.find((x) => x.name === built.name);
        if (!p) continue;
        p.rebuilt = { status: 'built', ...(built.sha256 ? { sha256: built.sha256 } : {}) };
        p.verdict = 'rebuilt';
      }
    } else {
      for (const b of build.plugins) {
        const p = plugins.find((x) => x.name === b.name);
        if (p && !p.rebuilt) p.rebuilt = { status: 'failed', message: b.reason ?? 'the side lockfile could not be written' };
      }
    }
  }
  const outcome: RehearsalVerdict = plugins.some((p) => p.verdict === 'broken') ? 'broken' : plugins.some((p) => p.verdict === 'rebuilt') ? 'rebuilt' : 'survives';
  return {
    outcome,
    candidate: request.candidate,
    candidateImageId: verify.imageId,
    environment: verify.environment,
    realLoads: verify.real,
    plugins,
    ...(lockOut ? { lockOut } : {}),
  };
}
