import { machineOfPlatform, platformOfMachine } from '../lock/platform.js';
import type { ProjectConfig } from '../config/config.js';
import type { DockerEngine, ImageInfo } from '../docker/engine.js';
import { repoDigestFor } from '../docker/image-ref.js';
import { BuilderError, EnvironmentMismatchError, ImageNotFoundError } from '../errors.js';
import type { LibcFamily } from '../env/fingerprint.js';
import { diffFingerprints } from '../env/fingerprint.js';
import { cachedProbe, noProbeCache, type ProbeCache } from '../env/probe-cache.js';
import { type ProbedImage, probeImage } from '../env/probe-image.js';
import type { BuildReporter } from './build-events.js';
import { type BuilderCacheEvent, type BuilderCacheOptions, type BuilderImage, ensureBuilderImage } from './builder-image.js';
import { type ProbedHost, probeHost } from './probe-host.js';
import { readToolchain } from './read-toolchain.js';
import { cCompiler, type PackageManager, packageManagerFor, toolchainPackages } from './toolchain.js';

export interface BuildEnvironment {
  host: ProbedHost;
  base: ProbedImage;
  builderImage: BuilderImage;
  /** The builder as checked against the host (with the host's Go part when it has one). */
  builder: ProbedImage;
  toolchain: Record<string, string>;
  manager: PackageManager;
  target: LibcFamily;
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

/** The host image, pulled first when it is missing and `pull` is set (its digest is reported). */
async function hostImage(engine: DockerEngine, image: string, pull: boolean, report: BuildReporter): Promise<ImageInfo> {
  const present = await engine.inspectImage(image);
  if (present) return present;
  if (!pull) throw new ImageNotFoundError(image, 'host');
  report({ type: 'step', message: `pulling host image ${image}` });
  const pulled = await engine.pullImage(image, () => {});
  report({ type: 'step', message: `pulled ${image}: ${repoDigestFor(image, pulled.repoDigests) ?? pulled.id}` });
  return pulled;
}

async function imageId(engine: DockerEngine, image: string, role: string): Promise<string> {
  const info = await engine.inspectImage(image);
  if (!info) throw new ImageNotFoundError(image, role);
  return info.id;
}

/**
 * Probe the host, derive and check the builder. Every fact comes from a probe of the image, or
 * from the tool's own probe cache keyed by image ID (an image ID is a hash of the image's
 * content, so an unchanged project resolves with a few inspect calls). Never from the project's
 * lockfile: that is the repository's to edit, and what it says is what the build must check, not
 * what it may assume. (Go hosts are always probed: the module check needs the full build info.)
 */
export async function resolveEnvironment(
  engine: DockerEngine,
  config: ProjectConfig,
  ctx: { report: BuildReporter; recipeDir: string; now: () => number; probeCache?: ProbeCache; pull?: boolean; builderCache?: BuilderCacheOptions; platform?: string; inspectOnly?: boolean },
): Promise<BuildEnvironment> {
  const { report } = ctx;
  const cache = ctx.probeCache ?? noProbeCache;
  const hostInfo = await hostImage(engine, config.hostImage, ctx.pull === true, report);
  const hostId = hostInfo.id;
  const repoDigest = repoDigestFor(config.hostImage, hostInfo.repoDigests);
  let host: ProbedHost;
  if (!config.hostBinary) {
    const fingerprint = await cachedProbe(cache, `${hostId} host`, async () => {
      report({ type: 'step', message: `probing host image ${config.hostImage}` });
      return (await probeHost(engine, config)).fingerprint;
    });
    host = { image: config.hostImage, imageId: hostId, fingerprint, goBuildInfo: null };
  } else {
    report({ type: 'step', message: `probing host image ${config.hostImage}` });
    host = await probeHost(engine, config);
  }
  if (repoDigest) host = { ...host, repoDigest };
  // Before a builder is made for it: the image must be the platform it is named for.
  if (ctx.platform) refuseWrongPlatform(ctx.platform, config.hostImage, host.fingerprint.arch);
  const target = host.fingerprint.libc.family;

  let base: ProbedImage = host;
  if (config.builderBase !== undefined) {
    const baseId = await imageId(engine, config.builderBase, 'builder base');
    const fingerprint = await cachedProbe(cache, `${baseId} ${target}`, async () => {
      report({ type: 'step', message: `probing builder base ${config.builderBase}` });
      return (await probeImage(engine, config.builderBase as string, 'builder base', { libc: target })).fingerprint;
    });
    base = { image: config.builderBase, imageId: baseId, fingerprint };
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
    });
  }
  if (target === 'musl' && config.plugins.some((p) => p.kind === 'go-c-shared')) {
    throw new BuilderError('UNSUPPORTED_TARGET', `The host ${host.image} uses musl, and go-c-shared plugins cannot be loaded there.`, {
      fix: "Go's c-shared libraries use initial-exec TLS, which musl's dlopen rejects (golang/go#54805, #13492): use kind c for musl hosts.",
    });
  }
  if (target === 'musl' && manager === 'apt' && config.plugins.some((p) => p.kind === 'cpp')) {
    throw new BuilderError('UNSUPPORTED_TARGET', `The host ${host.image} uses musl, and Debian's musl cross toolchain (musl-tools) has no C++ compiler.`, {
      fix: 'Set builder.base to an Alpine image with the host\'s musl (its g++ builds against musl), or build the plugin as kind c.',
    });
  }
  const packages = toolchainPackages(manager, config.plugins.map((p) => p.kind), config.builderPackages, target);
  const started = ctx.now();
  const builderImage = await ensureBuilderImage(
    engine,
    { baseImageId: base.imageId, packages, cc: cCompiler(manager, target), recipeDir: ctx.recipeDir },
    (line) => report({ type: 'image-output', line }),
    { ...ctx.builderCache, now: ctx.now, ...(ctx.inspectOnly ? { inspectOnly: true } : {}), onEvent: (event) => report({ type: 'step', message: describeCacheEvent(event) }) },
  );
  const how = { reused: 'reused', pulled: 'pulled from the cache', built: `built in ${((ctx.now() - started) / 1000).toFixed(1)} s` }[builderImage.source];
  report({ type: 'step', message: `builder image ${builderImage.tag} ${how} (${packages.join(' ')})` });

  const builderFingerprint = await cachedProbe(cache, `${builderImage.id} ${target}`, async () =>
    (await probeImage(engine, builderImage.tag, 'builder', { libc: target })).fingerprint,
  );
  const builderProbe: ProbedImage = { image: builderImage.tag, imageId: builderImage.id, fingerprint: builderFingerprint };
  const toolchain = await cachedProbe(cache, `${builderImage.id} toolchain`, () => readToolchain(engine, builderImage.id));
  // A go-plugin host adds its Go version to the fingerprint: the builder's Go must equal it.
  const builder: ProbedImage = host.fingerprint.go
    ? { ...builderProbe, fingerprint: { ...builderProbe.fingerprint, go: { ...host.fingerprint.go, version: toolchain.go ?? '(no Go toolchain)' } } }
    : builderProbe;
  // The toolchain install may have upgraded libc; the builder itself is what must match.
  refuseMismatch(host, builder, 'builder image');
  return { host, base, builderImage, builder, toolchain, manager, target };
}

function describeCacheEvent(event: BuilderCacheEvent): string {
  switch (event.type) {
    case 'pulled':
      return `builder image pulled from ${event.ref} in ${event.seconds.toFixed(1)} s`;
    case 'miss':
      return `builder cache miss (${event.ref}): ${event.reason}; building it here`;
    case 'pushed':
      return `builder image pushed to ${event.ref} (${event.digest}) in ${event.seconds.toFixed(1)} s`;
  }
}

/** A host image named for one platform whose C library is another's would lock one architecture's code under another's name. */
function refuseWrongPlatform(platform: string, image: string, machine: string): void {
  const actual = platformOfMachine(machine);
  if (actual === platform) return;
  throw new BuilderError(
    'PLATFORM_MISMATCH',
    `host.platforms["${platform}"] is ${image}, whose C library is built for ${machine}${actual ? ` (${actual})` : ''}, not ${machineOfPlatform(platform) ?? platform}.`,
    { fix: `Name a ${platform} image for "${platform}" (the ELF of the image's libc is what counts, not the image config's Architecture).` },
  );
}
