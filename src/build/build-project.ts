import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ProjectConfig } from '../config/config.js';
import type { DockerEngine } from '../docker/engine.js';
import { BuilderError, EnvironmentMismatchError, EXIT_UNUSABLE } from '../errors.js';
import { diffFingerprints, fingerprintHash } from '../env/fingerprint.js';
import { type ProbedImage, probeImage } from '../env/probe-image.js';
import { readLockfile, writeLockfile } from '../lock/lockfile-io.js';
import { LOCKFILE_VERSION, type LockedEnvironment, type Lockfile } from '../lock/lockfile.js';
import type { BuildReporter } from './build-events.js';
import { buildPlugin } from './build-plugin.js';
import { type BuilderImage, ensureBuilderImage } from './builder-image.js';
import { planPluginBuild } from './plan-plugin-build.js';
import { readToolchain } from './read-toolchain.js';
import { collectSources } from './sources.js';
import { packageManagerFor, toolchainPackages } from './toolchain.js';

export interface BuildContext {
  engine: DockerEngine;
  report: BuildReporter;
  /** Directory with Dockerfile.builder and images/ (the package root). */
  recipeDir: string;
  now?: () => number;
}

export type PluginStatus = 'built' | 'failed' | 'identical' | 'differs';

export interface PluginReport {
  name: string;
  kind: string;
  file: string;
  status: PluginStatus;
  seconds: number;
  sha256?: string;
  size?: number;
  inputsHash?: string;
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
  builder: LockedEnvironment & { toolchain: Record<string, string> };
  plugins: PluginReport[];
}

function locked(probe: ProbedImage, image = probe.image): LockedEnvironment {
  return { image, imageId: probe.imageId, fingerprint: probe.fingerprint, fingerprintHash: fingerprintHash(probe.fingerprint) };
}

function refuseMismatch(host: ProbedImage, other: ProbedImage, role: string): void {
  const differences = diffFingerprints(host.fingerprint, other.fingerprint);
  if (differences.length === 0) return;
  throw new EnvironmentMismatchError(
    `The ${role} ${other.image} does not match the host image ${host.image} (host → ${role})`,
    differences,
    'Plugins built there would not load reliably in the host. Remove builder.base so the builder is derived ' +
      'from the host image, or choose a base with the same OS release, C library and architecture as the host.',
  );
}

/**
 * `builder build`: probe the host, derive and check the builder, build every plugin in a
 * fresh container, then — only when every plugin built — move the artifacts into outDir and
 * write the lockfile. With `check`, rebuild and compare with the lockfile; write nothing.
 */
export async function buildProject(config: ProjectConfig, options: { check: boolean }, ctx: BuildContext): Promise<BuildReport> {
  const { engine, report } = ctx;
  const now = ctx.now ?? Date.now;
  await engine.ping();

  const previous = options.check ? await readLockfile(config.lockfile) : null;
  if (options.check && !previous) {
    throw new BuilderError('LOCKFILE_MISSING', `--check needs a lockfile, and ${config.lockfile} does not exist.`, {
      fix: 'Run `builder build` first and commit the lockfile it writes.',
      exitCode: EXIT_UNUSABLE,
    });
  }

  report({ type: 'step', message: `probing host image ${config.hostImage}` });
  const host = await probeImage(engine, config.hostImage, 'host');
  let base = host;
  if (config.builderBase !== undefined) {
    report({ type: 'step', message: `probing builder base ${config.builderBase}` });
    base = await probeImage(engine, config.builderBase, 'builder base');
    // Refuse before spending minutes on a toolchain install into the wrong C library.
    refuseMismatch(host, base, 'builder base');
  }

  const manager = packageManagerFor(base.fingerprint.os.id);
  if (!manager) {
    throw new BuilderError('NO_PACKAGE_MANAGER', `Cannot install a toolchain into ${base.image} (OS "${base.fingerprint.os.id}").`, {
      fix: 'Set builder.base to a Debian, Ubuntu or Alpine image with the same C library as the host.',
      exitCode: EXIT_UNUSABLE,
    });
  }
  const packages = toolchainPackages(manager, config.plugins.map((p) => p.kind), config.builderPackages);
  report({ type: 'step', message: `preparing builder image (${packages.join(' ')})` });
  const started = now();
  const builderImage: BuilderImage = await ensureBuilderImage(
    engine,
    { baseImageId: base.imageId, packages, recipeDir: ctx.recipeDir },
    (line) => report({ type: 'image-output', line }),
  );
  report({
    type: 'step',
    message: `builder image ${builderImage.tag} ${builderImage.reused ? 'reused' : `built in ${((now() - started) / 1000).toFixed(1)} s`}`,
  });
  const builder = await probeImage(engine, builderImage.tag, 'builder');
  // The toolchain install may have upgraded libc; the builder itself is what must match.
  refuseMismatch(host, builder, 'builder image');
  const toolchain = await readToolchain(engine, builder.imageId);

  const plugins: PluginReport[] = [];
  const stagingParent = dirname(config.outDir);
  await mkdir(stagingParent, { recursive: true });
  // Staging beside outDir: same filesystem, so moving artifacts in is a rename.
  const staging = await mkdtemp(join(stagingParent, '.builder-staging-'));
  const artifacts = new Map<string, string>();
  try {
    for (const plugin of config.plugins) {
      const sources = await collectSources(plugin.dir);
      const plan = planPluginBuild(plugin, sources, { builderImageId: builder.imageId, sourceDateEpoch: config.sourceDateEpoch });
      report({ type: 'plugin-start', name: plugin.name, kind: plugin.kind });
      const t0 = now();
      const outcome = await buildPlugin(engine, builder.imageId, plan, plugin.dir, sources, staging);
      const seconds = (now() - t0) / 1000;
      const base = { name: plugin.name, kind: plugin.kind, file: plan.file, seconds, inputsHash: plan.inputsHash };
      if (!outcome.ok) {
        report({ type: 'plugin-failed', name: plugin.name, seconds, reason: outcome.reason, output: outcome.output });
        plugins.push({ ...base, status: 'failed', reason: outcome.reason, output: outcome.output });
        continue;
      }
      report({ type: 'plugin-built', name: plugin.name, seconds, sha256: outcome.sha256, size: outcome.size });
      artifacts.set(plugin.name, outcome.path);
      const lockedSha256 = previous?.plugins[plugin.name]?.sha256;
      const status: PluginStatus = !options.check ? 'built' : lockedSha256 === outcome.sha256 ? 'identical' : 'differs';
      plugins.push({
        ...base,
        status,
        sha256: outcome.sha256,
        size: outcome.size,
        ...(options.check ? { lockedSha256 } : {}),
        ...(status === 'differs' ? { reason: lockedSha256 ? 'bytes differ from the lockfile' : 'not in the lockfile' } : {}),
      });
    }

    const result = {
      lockfile: config.lockfile,
      outDir: config.outDir,
      host: locked(host),
      builder: { ...locked(builder, builderImage.tag), toolchain },
      plugins,
    };
    if (plugins.some((p) => p.status === 'failed')) return { outcome: 'failed', ...result };
    if (options.check) {
      const extra = Object.keys(previous?.plugins ?? {}).filter((name) => !config.plugins.some((p) => p.name === name));
      for (const name of extra) {
        plugins.push({ name, kind: previous?.plugins[name]?.kind ?? '', file: previous?.plugins[name]?.file ?? '', status: 'differs', seconds: 0, reason: 'in the lockfile but not in the config' });
      }
      return { outcome: plugins.every((p) => p.status === 'identical') ? 'check-passed' : 'check-failed', ...result };
    }

    await mkdir(config.outDir, { recursive: true });
    for (const plugin of plugins) await rename(artifacts.get(plugin.name) as string, join(config.outDir, plugin.file));
    await writeLockfile(config.lockfile, toLockfile(result));
    return { outcome: 'built', ...result };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

export function toLockfile(report: Pick<BuildReport, 'host' | 'builder' | 'plugins'>): Lockfile {
  const plugins: Lockfile['plugins'] = {};
  for (const p of report.plugins) {
    if (p.sha256 === undefined || p.size === undefined || p.inputsHash === undefined) continue;
    plugins[p.name] = { kind: p.kind as Lockfile['plugins'][string]['kind'], file: p.file, sha256: p.sha256, size: p.size, inputsHash: p.inputsHash };
  }
  return { lockfileVersion: LOCKFILE_VERSION, host: report.host, builder: report.builder, plugins };
}
