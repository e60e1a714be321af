import { mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { PluginKind, ProjectConfig } from '../config/config.js';
import type { DockerEngine } from '../docker/engine.js';
import { BuilderError, EnvironmentMismatchError, EXIT_UNUSABLE } from '../errors.js';
import { diffFingerprints, fingerprintHash } from '../env/fingerprint.js';
import { type ProbedImage, probeImage } from '../env/probe-image.js';
import { readElf } from '../elf/read-elf.js';
import { lockedModules } from '../gomod/go-fingerprint.js';
import { checkModuleCompat } from '../gomod/module-compat.js';
import { type GoModFile, parseGoMod } from '../gomod/parse-go-mod.js';
import { modulesFromFilePaths } from '../elf/go-file-modules.js';
import { readLockfile, writeLockfile } from '../lock/lockfile-io.js';
import { LOCKFILE_VERSION, type LockedEnvironment, type LockedGoModule, type Lockfile } from '../lock/lockfile.js';
import type { BuildReporter } from './build-events.js';
import { buildPlugin } from './build-plugin.js';
import { type BuilderImage, ensureBuilderImage } from './builder-image.js';
import { planPluginBuild } from './plan-plugin-build.js';
import { readToolchain } from './read-toolchain.js';
import { collectPluginSources } from './collect-plugin-sources.js';
import { type ProbedHost, probeHost } from './probe-host.js';
import { cCompiler, packageManagerFor, toolchainPackages } from './toolchain.js';

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
  builder: LockedEnvironment & { toolchain: Record<string, string> };
  plugins: PluginReport[];
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

const GO_RELEASES = 'Debian 12 ships go1.19.8 (plugin-builder/debian:bookworm), Debian 13 go1.24.4, elsewhere golang:<version>-<distro>';

function refuseMismatch(host: ProbedImage, other: ProbedImage, role: string): void {
  const differences = diffFingerprints(host.fingerprint, other.fingerprint);
  if (differences.length === 0) return;
  const goVersion = host.fingerprint.go?.version;
  throw new EnvironmentMismatchError(
    `The ${role} ${other.image} does not match the host image ${host.image} (host → ${role})`,
    differences,
    'Plugins built there would not load reliably in the host. Remove builder.base so the builder is derived ' +
      'from the host image, or choose a base with the same OS release, C library and architecture as the host' +
      (goVersion ? ` and whose Go toolchain is exactly ${goVersion}, the host binary's (${GO_RELEASES}).` : '.'),
  );
}

export interface BuildOptions {
  check: boolean;
  /** Build go-plugins even when their modules differ from the host's (to see the failure for real). */
  skipGoModuleCheck?: boolean;
}

/**
 * `builder build`: probe the host, derive and check the builder, build every plugin in a
 * fresh container, then — only when every plugin built — move the artifacts into outDir and
 * write the lockfile. With `check`, rebuild and compare with the lockfile; write nothing.
 */
export async function buildProject(config: ProjectConfig, options: BuildOptions, ctx: BuildContext): Promise<BuildReport> {
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
  const host = await probeHost(engine, config);
  let base: ProbedImage = host;
  const target = host.fingerprint.libc.family;
  if (config.builderBase !== undefined) {
    report({ type: 'step', message: `probing builder base ${config.builderBase}` });
    base = await probeImage(engine, config.builderBase, 'builder base', { libc: target });
    // Refuse before spending minutes on a toolchain install into the wrong C library. A glibc
    // distribution may still build for a musl host (it gets musl's cross toolchain), so then
    // only the OS release and architecture can be checked here; the builder is checked in full.
    const crossMusl = target === 'musl' && base.fingerprint.libc.family === 'glibc';
    const comparable = { ...base.fingerprint, ...(crossMusl ? { libc: host.fingerprint.libc } : {}), ...(host.fingerprint.go ? { go: host.fingerprint.go } : {}) };
    refuseMismatch(host, { ...base, fingerprint: comparable }, 'builder base');
  }

  const manager = packageManagerFor(base.fingerprint.os.id);
  if (!manager) {
    throw new BuilderError('NO_PACKAGE_MANAGER', `Cannot install a toolchain into ${base.image} (OS "${base.fingerprint.os.id}").`, {
      fix: 'Set builder.base to a Debian, Ubuntu or Alpine image with the same C library as the host.',
      exitCode: EXIT_UNUSABLE,
    });
  }
  if (target === 'musl' && config.plugins.some((p) => p.kind === 'go-c-shared')) {
    throw new BuilderError('UNSUPPORTED_TARGET', `The host ${host.image} uses musl, and go-c-shared plugins cannot be loaded there.`, {
      fix: "Go's c-shared libraries use initial-exec TLS, which musl's dlopen rejects (golang/go#54805, #13492): use kind c for musl hosts.",
      exitCode: EXIT_UNUSABLE,
    });
  }
  const packages = toolchainPackages(manager, config.plugins.map((p) => p.kind), config.builderPackages, target);
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
  const builderProbe = await probeImage(engine, builderImage.tag, 'builder', { libc: target });
  const toolchain = await readToolchain(engine, builderProbe.imageId);
  // A go-plugin host adds its Go version to the fingerprint: the builder's Go must equal it.
  const builder: ProbedImage = host.fingerprint.go
    ? { ...builderProbe, fingerprint: { ...builderProbe.fingerprint, go: { ...host.fingerprint.go, version: toolchain.go ?? '(no Go toolchain)' } } }
    : builderProbe;
  // The toolchain install may have upgraded libc; the builder itself is what must match.
  refuseMismatch(host, builder, 'builder image');
  await refuseGoModuleMismatches(config, host, options, report);

  const plugins: PluginReport[] = [];
  const stagingParent = dirname(config.outDir);
  await mkdir(stagingParent, { recursive: true });
  // Staging beside outDir: same filesystem, so moving artifacts in is a rename.
  const staging = await mkdtemp(join(stagingParent, '.builder-staging-'));
  const artifacts = new Map<string, string>();
  try {
    for (const plugin of config.plugins) {
      const sources = await collectPluginSources(plugin, config.projectDir);
      const plan = planPluginBuild(
        plugin,
        { files: sources.files, workdir: sources.workdir, hasGoMod: sources.goMod !== null },
        {
          builderImageId: builder.imageId,
          sourceDateEpoch: config.sourceDateEpoch,
          cCompiler: cCompiler(manager, target),
          ...(host.fingerprint.go ? { goHostSettings: host.fingerprint.go.settings } : {}),
        },
      );
      report({ type: 'plugin-start', name: plugin.name, kind: plugin.kind });
      const t0 = now();
      const outcome = await buildPlugin(engine, builder.imageId, plan, config.projectDir, sources.files, staging);
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
        ...(plugin.kind === 'c' ? {} : await goFacts(outcome.path, toolchain.go, sources.goMod)),
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
        const entry = previous?.plugins[name];
        if (entry) plugins.push({ name, kind: entry.kind, file: entry.file, status: 'differs', seconds: 0, reason: 'in the lockfile but not in the config' });
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

/**
 * Go version and modules of a built Go artifact. A c-shared library carries Go's build info;
 * a Go plugin carries none, so its modules are read from its file table (module@version
 * paths, replacements from go.mod) and its Go version is the builder's, which built it.
 */
async function goFacts(path: string, toolchainGo: string | undefined, goMod: GoModFile | null): Promise<{ goVersion?: string; deps?: LockedGoModule[] }> {
  const bytes = await readFile(path);
  const info = readElf(bytes).goBuildInfo;
  if (info) return { goVersion: info.goVersion, deps: lockedModules(info.deps) };
  const deps = modulesFromFilePaths(bytes).map((m): LockedGoModule => {
    const replace = goMod?.replace.find((r) => r.from === m.path && (r.fromVersion === null || r.fromVersion === m.version));
    return { ...m, ...(replace ? { replace: { path: replace.to, version: replace.toVersion ?? '(devel)' } } : {}) };
  });
  return { ...(toolchainGo ? { goVersion: toolchainGo } : {}), deps };
}

/**
 * Refuse to build go-plugins whose go.mod disagrees with the modules the host binary links:
 * the Go runtime would refuse them at plugin.Open. Every difference of every plugin is listed
 * with the go.mod edit that fixes it.
 */
async function refuseGoModuleMismatches(config: ProjectConfig, host: ProbedHost, options: BuildOptions, report: BuildReporter): Promise<void> {
  if (!host.goBuildInfo) return;
  const lines: string[] = [];
  for (const plugin of config.plugins.filter((p) => p.kind === 'go-plugin')) {
    const text = await readFile(join(plugin.dir, 'go.mod'), 'utf8').catch(() => null);
    if (text === null) continue;
    for (const d of checkModuleCompat(host.goBuildInfo.deps, parseGoMod(text))) {
      lines.push(`  - ${plugin.name}: ${d.module}: host ${host.binary} has ${d.host}, the plugin requires ${d.plugin}\n      fix: (cd ${plugin.path} && ${d.fix})`);
    }
  }
  if (lines.length === 0) return;
  if (options.skipGoModuleCheck) {
    report({ type: 'step', message: `WARNING: building despite module differences (--skip-go-module-check):\n${lines.join('\n')}` });
    return;
  }
  throw new BuilderError('GO_MODULE_MISMATCH', `Go plugins disagree with the host binary's modules; the Go runtime would refuse them:\n${lines.join('\n')}`, {
    fix: 'Apply the go mod edit lines above (or rebuild the host with the plugin\'s versions), then build again.',
  });
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
