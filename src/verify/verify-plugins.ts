import { join } from 'node:path';
import type { DockerEngine } from '../docker/engine.js';
import { repoDigestFor } from '../docker/image-ref.js';
import type { FieldDifference } from '../errors.js';
import { diffFingerprints, type EnvironmentFingerprint } from '../env/fingerprint.js';
import { envValue } from '../env/env-value.js';
import { withImageFiles } from '../env/image-files.js';
import { probeFiles } from '../env/probe-image.js';
import { ElfFormatError, readElf } from '../elf/read-elf.js';
import type { Lockfile } from '../lock/lockfile.js';
import { openRegularFile, readExactly, UnsafeFileError } from '../util/safe-file.js';
import { sha256Hex } from '../util/sha256.js';
import { LibrarySearch } from './library-search.js';
import type { LoaderCpuView } from './loader-cpu-view.js';
import { probeLoaderCpuView } from './probe-loader-cpu-view.js';
import { staticTlsSurplus } from './static-tls.js';
import { type LoadingProgram, programScope, resolveLoadingProgram } from './loading-program.js';
import { checkGoPlugin } from './go-plugin-checks.js';
import { predictLoad } from './predict-load.js';
import { goFingerprint } from '../gomod/go-fingerprint.js';
import { readGoBinary } from '../gomod/read-go-binary.js';
import { addRealLoads, type RealLoads } from './real-loads.js';
import type { PluginVerdict, Problem } from './verdict.js';

// Plugins are read whole (the ELF reader works on bytes): a cap keeps a huge or sparse file from exhausting memory.
const MAX_PLUGIN_BYTES = 1024 * 1024 * 1024;

/** A local plugin file, read without following a final symlink or blocking on a FIFO. */
async function readLocalPlugin(path: string): Promise<Buffer | UnsafeFileError> {
  try {
    const { handle, stats } = await openRegularFile(path, 'plugin file', { maxSize: MAX_PLUGIN_BYTES });
    try {
      return await readExactly(handle, stats.size, path);
    } finally {
      await handle.close();
    }
  } catch (err) {
    if (err instanceof UnsafeFileError) return err;
    throw err;
  }
}

const GLIBC_LOADERS: Record<string, string> = { x86_64: '/lib64/ld-linux-x86-64.so.2', aarch64: '/lib/ld-linux-aarch64.so.1' };

export type { PluginVerdict, Problem, ProblemCheck } from './verdict.js';

export interface VerifyReport {
  outcome: 'ok' | 'problems';
  image: string;
  imageId: string;
  /** The image's digest in the reference's repository (`repo@sha256:…`), when it was pushed or pulled there. */
  repoDigest?: string;
  fingerprint: EnvironmentFingerprint;
  environment: FieldDifference[];
  /** The program the prediction is for (its executable and libraries are loaded before any plugin); null when none was found. */
  program: (LoadingProgram & { libraries: string[]; unresolved: string[] }) | null;
  /** What the image's loader makes of the engine's CPU (hwcaps subdirectories, x86 ISA level); null when it could not say. */
  cpu: LoaderCpuView | null;
  /** Where the loader opens each plugin: its deployed path, or a sealed copy (the host runtimes). */
  opens: { how: 'by path'; origin: string } | { how: 'sealed copy'; origin: '/proc/self/fd' };
  plugins: PluginVerdict[];
  /** With --real: the program that loaded them in a container of the image, or why none did. */
  real?: RealLoads;
}

/** Which program loads the plugins, and how it opens them. */
export interface LoaderChoice {
  /** The executable that loads the plugins, overriding host.binary and the image's Entrypoint/Cmd. */
  loaderProgram?: string;
  /**
   * The program dlopen()s each plugin at its deployed path, so $ORIGIN is the plugin directory.
   * Without it the prediction is for the host runtimes, which open a sealed copy (/proc/self/fd/N:
   * $ORIGIN finds nothing there).
   */
  loadsByPath?: boolean;
  /** Also load every plugin for real in a container of the image (verify --real, drift --real). */
  real?: boolean;
  /** config host.loader: the proof's loading command, when the lockfile's project has one. */
  hostLoader?: readonly string[];
}

export interface VerifyRequest extends LoaderChoice {
  lock: Lockfile;
  /** The host image to judge against. */
  image: string;
  /** Where the plugin files are: a local directory, or (when absent) `pluginsPath` inside the image. */
  dir?: string;
  pluginsPath: string;
}

/**
 * `builder verify`: for every plugin of a lockfile, (1) are the bytes the locked ones,
 * (2) is the image's environment the locked one, (3) would the image's loader load it.
 * Each problem names the culprit and the fix.
 */
export async function verifyPlugins(engine: DockerEngine, request: VerifyRequest): Promise<VerifyReport> {
  return withImageFiles(engine, request.image, 'host', async ({ imageId, files, env, entrypoint, cmd, workingDir, repoDigests }) => {
    const binary = request.lock.host.binary;
    // A Go host's fingerprint includes its binary's Go version and modules, as at build time.
    const goHost = binary ? await readGoBinary(files, request.image, binary) : null;
    const probed = await probeFiles(files, `host image ${request.image}`);
    const fingerprint = goHost ? { ...probed, go: goFingerprint(goHost) } : probed;
    const environment = diffFingerprints(request.lock.host.fingerprint, fingerprint);
    const ldLibraryPath = envValue(env, 'LD_LIBRARY_PATH');
    // hwcaps subdirectories and the x86 ISA level depend on the CPU: the image's own loader says what it makes of the engine's.
    const interpreter = fingerprint.libc.family === 'glibc' ? GLIBC_LOADERS[fingerprint.arch] : undefined;
    const cpu = interpreter && (await files.readFile(interpreter)) ? await probeLoaderCpuView(engine, imageId, interpreter) : null;
    const searches = new Map<string, LibrarySearch>();
    // One search per object class and machine (a 32-bit plugin is matched with 32-bit libraries).
    const libraries = (facts: { class: 32 | 64; machine: string }) => {
      const key = `${facts.class}/${facts.machine}`;
      let search = searches.get(key);
      if (!search) {
        search = new LibrarySearch(files, {
          family: fingerprint.libc.family,
          arch: fingerprint.arch,
          multiarch: LibrarySearch.multiarchFor(fingerprint.arch, fingerprint.os.id),
          ldLibraryPath,
          cwd: workingDir,
          program: null,
          want: { class: facts.class, machine: facts.machine },
          cpu,
        });
        searches.set(key, search);
      }
      return search;
    };

    // The program that will load the plugins: its executable and libraries are already in the
    // process (a plugin calling cos() without -lm loads in node, whose libraries bring libm).
    const loading = await resolveLoadingProgram(files, { env, entrypoint, cmd, workingDir }, { hostBinary: binary, override: request.loaderProgram });
    const scope = loading ? await programScope(files, libraries({ class: 64, machine: fingerprint.arch }), loading, env) : null;
    // The static TLS the loading process leaves: the image Env's tunables, the same for every plugin.
    const tls = staticTlsSurplus(env);
    const program = loading && scope ? { ...loading, libraries: scope.objects.map((o) => o.path), unresolved: scope.unresolved } : null;

    const opens: VerifyReport['opens'] = request.loadsByPath ? { how: 'by path', origin: request.pluginsPath } : { how: 'sealed copy', origin: '/proc/self/fd' };
    const plugins: PluginVerdict[] = [];
    const lockedBytes = new Map<string, Buffer>();
    for (const [name, entry] of Object.entries(request.lock.plugins).sort(([a], [b]) => a.localeCompare(b))) {
      const problems: Problem[] = [];
      const where = request.dir ? join(request.dir, entry.file) : `${request.image}:${request.pluginsPath}/${entry.file}`;
      const local = request.dir ? await readLocalPlugin(join(request.dir, entry.file)) : null;
      if (local instanceof UnsafeFileError && local.code !== 'FILE_MISSING') {
        plugins.push({
          name, file: entry.file, bytes: 'mismatch', loadable: null, outcome: 'unknown', notes: [],
          problems: [{ check: 'bytes', message: local.message, fix: local.fix ?? 'deploy the plugin files together with their lockfile' }],
        });
        continue;
      }
      const bytes = request.dir ? (local instanceof UnsafeFileError ? null : local) : await files.readFile(`${request.pluginsPath}/${entry.file}`);
      if (!bytes) {
        plugins.push({
          name, file: entry.file, bytes: 'missing', loadable: null, outcome: 'unknown', notes: [],
          problems: [{ check: 'bytes', message: `${where} does not exist`, fix: 'deploy the plugin files together with their lockfile' }],
        });
        continue;
      }
      const sha256 = sha256Hex(bytes);
      if (sha256 === entry.sha256) lockedBytes.set(name, bytes);
      if (sha256 !== entry.sha256) {
        problems.push({
          check: 'bytes',
          message: `${where} has sha256 ${sha256}, the lockfile says ${entry.sha256}`,
          fix: 'deploy the .so and the lockfile from the same builder build (the host runtime will refuse these bytes)',
        });
      }
      if (environment.length > 0) {
        problems.push({
          check: 'environment',
          message: `built for ${request.lock.host.image}, whose environment differs from this image: ${environment.map((d) => `${d.field} ${d.expected} → ${d.actual}`).join(', ')}`,
          fix: 'rebuild with builder build against this host image (the host runtime refuses mismatched environments)',
        });
      }
      let loadable: boolean | null = null;
      const notes: string[] = [...(scope?.notes ?? [])];
      try {
        const facts = readElf(bytes);
        const sameKind = scope && scope.executable.facts.class === facts.class && scope.executable.facts.machine === facts.machine;
        const loadProblems: Problem[] = await predictLoad(facts, {
          fingerprint,
          libraries: libraries(facts),
          scope: sameKind ? scope : null,
          notes,
          pluginOrigin: opens.how === 'by path' ? opens.origin : null,
          pluginPath: opens.how === 'by path' ? `${opens.origin}/${entry.file}` : '/proc/self/fd/N',
          staticTlsSurplus: tls.surplus,
          optionalStaticTls: tls.optional,
          cpu,
        });
        if (goHost && binary && entry.kind === 'go-plugin') loadProblems.push(...checkGoPlugin(entry, bytes, facts.goPackageHashes, goHost, binary));
        loadable = loadProblems.length === 0;
        problems.push(...loadProblems);
      } catch (err) {
        if (!(err instanceof ElfFormatError)) throw err;
        loadable = false;
        problems.push({ check: 'elf', message: `${where} is not a valid shared object: ${err.message}`, fix: 'rebuild it with builder build' });
      }
      const outcome = loadable === null ? 'unknown' : problems.some((p) => p.check === 'crash' || p.check === 'go-version') ? 'crashes' : loadable ? 'loads' : 'fails';
      plugins.push({ name, file: entry.file, bytes: sha256 === entry.sha256 ? 'ok' : 'mismatch', sha256, loadable, outcome, problems, notes });
    }
    const real = request.real
      ? await addRealLoads(engine, plugins, {
          lock: request.lock,
          imageId,
          entrypoint,
          cmd,
          ...(goHost ? { goDeps: goHost.deps } : {}),
          ...(request.loaderProgram ? { loaderProgram: request.loaderProgram } : {}),
          ...(request.hostLoader ? { hostLoader: request.hostLoader } : {}),
          bytes: lockedBytes,
        })
      : undefined;
    const outcome = environment.length === 0 && plugins.every((p) => p.problems.length === 0) ? 'ok' : 'problems';
    const repoDigest = repoDigestFor(request.image, repoDigests);
    return { outcome, image: request.image, imageId, ...(repoDigest ? { repoDigest } : {}), fingerprint, environment, program, cpu, opens, plugins, ...(real ? { real } : {}) };
  });
}
