import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BadCallError,
  BadManifestError,
  BuilderError,
  EnvironmentMismatchError,
  HashMismatchError,
  PluginLoadError,
  UnknownPluginError,
  describeCause,
} from '../errors.js';
import { diffFingerprints, type EnvironmentFingerprint } from '../env/fingerprint.js';
import { type LockedPlugin, type Lockfile, parseLockfile } from '../lock/lockfile.js';
import { sha256Hex } from '../util/sha256.js';
import { MANIFEST_PROTOTYPE, type PluginManifest, parseManifest } from './manifest.js';
import type { NativeLoader } from './native-loader.js';
import { checkArguments } from './prototype.js';

export interface PluginHostOptions {
  /** Directory with the .so files (and, by default, builder.lock.json). */
  pluginDir: string;
  /** Lockfile path; default `<pluginDir>/builder.lock.json`. */
  lockfile?: string;
  loader: NativeLoader;
  /** The running system's fingerprint (computed by `liveFingerprint()`). */
  liveEnvironment: EnvironmentFingerprint;
  /**
   * Emergency override: load despite an environment mismatch. Every load under it is logged
   * as a warning, because it gives up the guarantee this runtime exists for.
   */
  allowEnvironmentMismatch?: boolean;
  log?: (level: 'info' | 'warn', message: string) => void;
}

export type PluginState = 'loaded' | 'rejected';

export interface PluginStatus {
  name: string;
  status: PluginState;
  file: string;
  /** The serving version (loaded) or the lockfile's expectation (rejected). */
  sha256?: string;
  version?: string;
  functions?: string[];
  /** Why it was rejected; or, for a loaded plugin, why its newer version was not taken. */
  reason?: string;
  code?: string;
}

interface LoadedPlugin {
  name: string;
  file: string;
  sha256: string;
  manifest: PluginManifest;
  functions: Map<string, (...args: unknown[]) => unknown>;
}

/**
 * Loads only what the lockfile lists, only with the locked bytes, only in the locked
 * environment. A loaded .so cannot be unloaded and must not be dlopen'ed twice, so versions
 * are additive: a new sha256 is loaded from a new private file name, the old one keeps
 * serving until then, and a rejected update never replaces a good version.
 */
export class PluginHost {
  private readonly active = new Map<string, LoadedPlugin>();
  private statuses: PluginStatus[] = [];
  private reloading: Promise<PluginStatus[]> = Promise.resolve([]);
  private readonly lockfile: string;
  private readonly log: NonNullable<PluginHostOptions['log']>;

  private constructor(
    private readonly options: PluginHostOptions,
    private readonly privateDir: string,
  ) {
    this.lockfile = options.lockfile ?? join(options.pluginDir, 'builder.lock.json');
    this.log = options.log ?? (() => {});
  }

  static async open(options: PluginHostOptions): Promise<PluginHost> {
    // 0700, ours alone: the bytes we hash are the bytes we copy here and load from here, so
    // swapping the deployed file between check and load cannot slip anything in.
    const privateDir = await mkdtemp(join(tmpdir(), 'builder-plugins-'));
    const host = new PluginHost(options, privateDir);
    await host.reload();
    return host;
  }

  /** Re-read the lockfile and load what is new; serialised, so reloads never interleave. */
  reload(): Promise<PluginStatus[]> {
    this.reloading = this.reloading.catch(() => []).then(() => this.doReload());
    return this.reloading;
  }

  plugins(): PluginStatus[] {
    return this.statuses.map((s) => ({ ...s }));
  }

  call(name: string, fn: string, args: readonly unknown[]): unknown {
    const plugin = this.active.get(name);
    if (!plugin) {
      const status = this.statuses.find((s) => s.name === name);
      throw new BadCallError(
        status ? `plugin "${name}" is not loaded: ${status.reason ?? status.status}` : `no plugin "${name}" is loaded`,
        404,
      );
    }
    const entry = plugin.manifest.functions[fn];
    const bound = plugin.functions.get(fn);
    if (!entry || !bound) throw new BadCallError(`plugin "${name}" has no function "${fn}" (it has: ${[...plugin.functions.keys()].join(', ')})`, 404);
    const problem = checkArguments(entry.parsed, args);
    if (problem) throw new BadCallError(problem);
    return bound(...args);
  }

  async close(): Promise<void> {
    // Loaded code stays mapped; removing the directory only drops the names.
    await rm(this.privateDir, { recursive: true, force: true });
  }

  private async doReload(): Promise<PluginStatus[]> {
    const lock = parseLockfile(await readFile(this.lockfile, 'utf8'), this.lockfile);
    const envProblem = this.checkEnvironment(lock);
    const statuses: PluginStatus[] = [];
    for (const [name, entry] of Object.entries(lock.plugins).sort(([a], [b]) => a.localeCompare(b))) {
      const current = this.active.get(name);
      if (current && current.sha256 === entry.sha256) {
        statuses.push(this.loadedStatus(current));
        continue;
      }
      try {
        if (envProblem) throw envProblem;
        const loaded = await this.load(name, entry);
        this.active.set(name, loaded);
        this.log('info', `loaded ${name} ${loaded.manifest.version} (${entry.file}, sha256 ${entry.sha256.slice(0, 16)}…)`);
        statuses.push(this.loadedStatus(loaded));
      } catch (err) {
        const { reason, code } = explain(err);
        this.log('warn', `rejected ${name}${current ? ' update (previous version keeps serving)' : ''}: ${reason}`);
        statuses.push(
          current
            ? { ...this.loadedStatus(current), reason: `update to sha256 ${entry.sha256.slice(0, 16)}… rejected: ${reason}`, code }
            : { name, status: 'rejected', file: entry.file, sha256: entry.sha256, reason, code },
        );
      }
    }
    for (const name of [...this.active.keys()]) if (!(name in lock.plugins)) this.active.delete(name);
    statuses.push(...(await this.unknownFiles(lock)));
    this.statuses = statuses;
    return this.plugins();
  }

  private checkEnvironment(lock: Lockfile): BuilderError | null {
    const differences = diffFingerprints(lock.host.fingerprint, this.options.liveEnvironment);
    if (differences.length === 0) return null;
    const error = new EnvironmentMismatchError(
      `This host's environment differs from the one the plugins were built for (${lock.host.image}; lockfile → live)`,
      differences,
      'Rebuild the plugins with `builder build` against this host image, or run them on the image they were built for.',
    );
    if (!this.options.allowEnvironmentMismatch) return error;
    this.log('warn', `ENVIRONMENT MISMATCH OVERRIDDEN — loading anyway:\n${error.message}`);
    return null;
  }

  private async load(name: string, entry: LockedPlugin): Promise<LoadedPlugin> {
    const source = join(this.options.pluginDir, entry.file);
    let bytes: Buffer;
    try {
      bytes = await readFile(source);
    } catch (err) {
      throw new PluginLoadError(name, entry.file, `cannot read ${source}: ${describeCause(err)}`);
    }
    const actual = sha256Hex(bytes);
    if (actual !== entry.sha256) throw new HashMismatchError(name, entry.file, entry.sha256, actual);
    // A new name per version: dlopen of a path it already opened returns the old handle.
    const privatePath = join(this.privateDir, `${name}-${actual.slice(0, 32)}.so`);
    await writeFile(privatePath, bytes, { mode: 0o500, flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    let library;
    try {
      library = this.options.loader.load(privatePath);
    } catch (err) {
      throw new PluginLoadError(name, entry.file, describeCause(err));
    }
    let manifestText: unknown;
    try {
      manifestText = library.func(MANIFEST_PROTOTYPE)();
    } catch (err) {
      throw new BadManifestError(name, `cannot call ${MANIFEST_PROTOTYPE}: ${describeCause(err)}`);
    }
    const manifest = parseManifest(manifestText, name);
    const functions = new Map<string, (...args: unknown[]) => unknown>();
    for (const [fn, { prototype }] of Object.entries(manifest.functions)) {
      try {
        functions.set(fn, library.func(prototype));
      } catch (err) {
        throw new BadManifestError(name, `cannot bind "${prototype}": ${describeCause(err)}`);
      }
    }
    return { name, file: entry.file, sha256: actual, manifest, functions };
  }

  private loadedStatus(plugin: LoadedPlugin): PluginStatus {
    return {
      name: plugin.name,
      status: 'loaded',
      file: plugin.file,
      sha256: plugin.sha256,
      version: plugin.manifest.version,
      functions: Object.keys(plugin.manifest.functions),
    };
  }

  /** Shared objects on disk that no lockfile entry names: reported, never loaded. */
  private async unknownFiles(lock: Lockfile): Promise<PluginStatus[]> {
    const known = new Set(Object.values(lock.plugins).map((p) => p.file));
    const files = await readdir(this.options.pluginDir).catch(() => [] as string[]);
    return files
      .filter((f) => f.endsWith('.so') && !known.has(f))
      .sort()
      .map((file) => {
        const { reason, code } = explain(new UnknownPluginError(file));
        return { name: file, status: 'rejected' as const, file, reason, code };
      });
  }
}

function explain(err: unknown): { reason: string; code: string } {
  if (err instanceof BuilderError) return { reason: err.message, code: err.code };
  return { reason: describeCause(err), code: 'INTERNAL' };
}
