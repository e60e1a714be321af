import { opendir } from 'node:fs/promises';
import { join } from 'node:path';
import { BadCallError, BuilderError, EnvironmentMismatchError, ReloadTimeoutError, UnknownPluginError, describeCause } from '../errors.js';
import { diffFingerprints } from '../env/fingerprint.js';
import type { LockedPlugin, Lockfile } from '../lock/lockfile.js';
import { platformFile, platformOfMachine } from '../lock/platform.js';
import { signaturePathFor } from '../trust/lockfile-signature.js';
import type { TrustedKey } from '../trust/keys.js';
import { type AcceptedLockfile, acceptLockfile, isLockfileRefusal } from './accept-lockfile.js';
import { convertArguments, resultToJson } from './call-values.js';
import { DeployedFileChecker } from './deployed-file.js';
import { DEFAULT_HOST_LIMITS, threadPoolSize, type HostLimits, type HostReport, type LockfileState, type PluginHostOptions, type PluginSource, type PluginStatus, type TrustMode } from './host-types.js';
import { type LoadedPlugin, LoadedButRefusedError, loadVerifiedPlugin } from './load-plugin.js';
import type { NativeFunction } from './native-loader.js';
import { CallSlots } from './call-slots.js';
import type { Prototype } from './prototype.js';

/** Unlisted .so files reported per reload, at most: a directory of a million files is not a report. */
const MAX_UNKNOWN_REPORTED = 64;
/** Calls waiting for a worker thread before CALLS_BUSY turns more away. */
const MAX_WAITING_CALLS = 10_000;

const byName = ([a]: [string, unknown], [b]: [string, unknown]) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Loads only what the lockfile lists (signed by a trusted key, when keys are configured),
 * only with the locked bytes, only in the locked environment. Each version is copied into a
 * sealed private copy, hashed there and loaded from there. Loaded code cannot be unloaded, so
 * versions are additive: a new sha256 loads beside the old, the old serves until then, and a
 * refused update (or a refused lockfile) never replaces what serves.
 */
export class PluginHost {
  private active = new Map<string, LoadedPlugin>();
  /** Every version ever dlopen'ed (or refused after dlopen), by name and sha256: never twice. */
  private readonly versions = new Map<string, LoadedPlugin | BuilderError>();
  /** Plugins with a call that outlived its limit, and which call: no further call is made to them. */
  private readonly stuck = new Map<string, { fn: string; since: string }>();
  private readonly slots: CallSlots;
  /** The highest serial of a lockfile this host accepted: kept through refused reloads, never lowered. */
  private servingSerial = 0;
  private readonly minSerial: number;
  private readonly now = Date.now;
  private statuses: PluginStatus[] = [];
  private lockState: LockfileState;
  private queue: Promise<unknown> = Promise.resolve();
  private waiting: Promise<HostReport> | null = null;
  private warnedUnsigned = false;
  /** Where the serving set comes from: the deployed directory, or a set laid out from a registry; replaced only by an accepted reload. */
  private source: PluginSource;
  private readonly limits: HostLimits;
  private readonly trusted: readonly TrustedKey[];
  private readonly deployed: DeployedFileChecker;
  private readonly log: NonNullable<PluginHostOptions['log']>;

  private constructor(private readonly options: PluginHostOptions) {
    const lockPath = options.lockfile ?? join(options.pluginDir, 'builder.lock.json');
    this.source = { dir: options.pluginDir, lockPath, signaturePath: options.signature ?? signaturePathFor(lockPath), ...(options.ref ? { ref: options.ref } : {}) };
    this.limits = { ...DEFAULT_HOST_LIMITS, ...options.limits };
    this.minSerial = options.minSerial ?? 0;
    const max = this.limits.maxCallsInFlight;
    this.slots = new CallSlots(max, Math.max(1, Math.ceil(max / 4)), MAX_WAITING_CALLS);
    this.trusted = options.trustedKeys ?? [];
    this.deployed = new DeployedFileChecker(() => this.source.dir);
    this.log = options.log ?? (() => {});
    this.lockState = { status: 'refused', path: lockPath, code: 'NOT_LOADED', reason: 'no reload has finished yet' };
    const machine = options.liveEnvironment.arch;
    this.platform = platformOfMachine(machine) ?? `linux/${machine}`;
  }

  /** This host's platform, read off its own C library as builds read an image's: its entries in a multi-platform lockfile. */
  private readonly platform: string;

  /** Open a host and run its first reload. A refused lockfile is reported, not thrown. */
  static async open(options: PluginHostOptions): Promise<PluginHost> {
    const host = new PluginHost(options);
    try {
      await host.reload();
    } catch (err) {
      if (!(err instanceof ReloadTimeoutError)) {
        await host.close();
        throw err;
      }
    }
    return host;
  }

  get trust(): TrustMode {
    return this.trusted.length > 0 ? 'signed' : 'unsigned';
  }

  /**
   * Re-read the lockfile and load what is new. Reloads are serialised; each has a time limit,
   * after which it is abandoned (it commits nothing) and the next one may start.
   */
  reload(): Promise<HostReport> {
    // At most one reload runs and one waits: every request made meanwhile shares the waiting
    // one (it will read the newest files anyway), so callers cannot pile up an unbounded queue.
    if (this.waiting) return this.waiting;
    const run = this.queue.then(() => {
      this.waiting = null;
      return this.reloadWithDeadline();
    });
    this.waiting = run;
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Reload from another plugin directory (a set pulled by reference): the same checks as any
   * reload, and the directory becomes the serving source only if its lockfile is accepted (a
   * refused one rejects with the refusal and changes nothing). Runs
   * after the reloads queued before it; never merged with them, since its source differs.
   */
  reloadFrom(source: PluginSource): Promise<HostReport> {
    const run = this.queue.then(() => this.reloadWithDeadline(source));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** The directory (and, for a pulled set, the reference) the serving set comes from. */
  get servingSource(): Readonly<PluginSource> {
    return this.source;
  }

  plugins(): PluginStatus[] {
    return this.statuses.map((s) => {
      const stuck = this.stuck.get(s.name);
      return { ...s, ...(stuck ? { stuck } : {}) };
    });
  }

  report(): HostReport {
    return { trust: this.trust, lockfile: { ...this.lockState }, plugins: this.plugins() };
  }

  /** The report, with each serving plugin's deployed file re-checked against its bytes. */
  async inspect(): Promise<HostReport> {
    const report = this.report();
    for (const status of report.plugins) {
      const plugin = status.status === 'loaded' ? this.active.get(status.name) : undefined;
      if (plugin) Object.assign(status, await this.deployed.check(plugin.file, plugin.size, plugin.sha256, this.limits.reloadTimeoutMs));
    }
    return report;
  }

  /** Call a function on this thread: a call that never returns blocks the caller. Servers use callWithin. */
  call(name: string, fn: string, args: readonly unknown[]): unknown {
    this.refuseStuck(name);
    const { prototype, bound, values } = this.prepareCall(name, fn, args);
    return resultToJson(prototype.returns, bound(...values));
  }

  /**
   * Call a function on a worker thread, within `ms`: the event loop (and so /healthz, reloads and
   * shutdown) stays free whatever the plugin does. A call still running at the limit is
   * CALL_TIMEOUT; its thread cannot be taken back, so the plugin is marked stuck and refuses
   * further calls (PLUGIN_STUCK) until the process restarts, rather than eat the worker threads
   * one call at a time. Calls beyond the free threads wait their turn (call-slots.ts).
   */
  async callWithin(name: string, fn: string, args: readonly unknown[], ms = this.limits.callTimeoutMs): Promise<unknown> {
    this.refuseStuck(name);
    const { prototype, bound, values } = this.prepareCall(name, fn, args);
    if (this.limits.maxCallsInFlight === 0) {
      throw new BadCallError(`the worker pool (UV_THREADPOOL_SIZE=${threadPoolSize()}) leaves no thread for plugin calls beside file reads; set UV_THREADPOOL_SIZE to 3 or more`, 503, 'CALLS_BUSY');
    }
    const started = this.now();
    const release = await this.slots.acquire(name, ms, () => `${name}.${fn}`);
    // It may have got stuck while this call waited.
    try {
      this.refuseStuck(name);
    } catch (err) {
      release();
      throw err;
    }
    const run = bound.inWorker ?? (async (...a: unknown[]) => bound(...a));
    const call = run(...values);
    void call.finally(release).catch(() => undefined);
    const left = Math.max(1, ms - (this.now() - started));
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.stuck.set(name, { fn, since: new Date(this.now()).toISOString() });
        this.log('warn', `${name}.${fn} did not return within ${ms} ms: ${name} is marked stuck and gets no further call`);
        const error = new BadCallError(`${name}.${fn} did not return within ${ms} ms (--call-timeout); ${name} is marked stuck`, 504, 'CALL_TIMEOUT');
        this.slots.refuseWaiting(name, this.stuckError(name)!);
        reject(error);
      }, left);
    });
    try {
      return resultToJson(prototype.returns, await Promise.race([call, limit]));
    } finally {
      clearTimeout(timer);
    }
  }

  /** Calls running on worker threads now (timed out ones included: their threads are still busy). */
  callsInFlight(): number {
    return this.slots.inFlight;
  }

  /** `plugin.fn` of every call that outlived its limit. */
  stuckCalls(): string[] {
    return [...this.stuck].map(([name, { fn }]) => `${name}.${fn}`);
  }

  private refuseStuck(name: string): void {
    const error = this.stuckError(name);
    if (error) throw error;
  }

  private stuckError(name: string): BadCallError | null {
    const stuck = this.stuck.get(name);
    return stuck ? new BadCallError(`plugin "${name}" is stuck: a call to ${stuck.fn} has not returned since ${stuck.since}; no further call is made to it (restart the host to free it)`, 503, 'PLUGIN_STUCK') : null;
  }

  private prepareCall(name: string, fn: string, args: readonly unknown[]): { prototype: Prototype; bound: NativeFunction; values: unknown[] } {
    const plugin = this.active.get(name);
    if (!plugin) {
      const status = this.statuses.find((s) => s.name === name);
      throw new BadCallError(
        status ? `plugin "${name}" is not loaded: ${status.reason ?? status.status}` : `no plugin "${name}" is loaded`,
        404,
      );
    }
    const prototype = plugin.manifest.functions.get(fn);
    const bound = plugin.functions.get(fn);
    if (!prototype || !bound) throw new BadCallError(`plugin "${name}" has no function "${fn}" (it has: ${[...plugin.functions.keys()].join(', ')})`, 404);
    const converted = convertArguments(prototype, args);
    if (!converted.ok) throw new BadCallError(converted.reason);
    return { prototype, bound, values: converted.values };
  }

  async close(): Promise<void> {
    // Loaded code stays mapped for the life of the process; this drops what was never loaded.
    await this.options.sealer.close();
  }

  private async reloadWithDeadline(source: PluginSource = this.source): Promise<HostReport> {
    const ms = this.limits.reloadTimeoutMs;
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = new ReloadTimeoutError(ms);
        controller.abort(error);
        this.log('warn', error.message);
        reject(error);
      }, ms);
    });
    const work = this.doReload(source, controller.signal);
    work.catch(() => {}); // an abandoned reload rejects later, unobserved
    try {
      return await Promise.race([work, deadline]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async doReload(source: PluginSource, signal: AbortSignal): Promise<HostReport> {
    let accepted: AcceptedLockfile;
    try {
      const floor = this.servingSerial > this.minSerial ? { serial: this.servingSerial, what: "the serving lockfile's" } : { serial: this.minSerial, what: 'the configured floor (--min-serial)' };
      accepted = await acceptLockfile(source.lockPath, source.signaturePath, this.trusted, this.limits, this.platform, floor);
    } catch (err) {
      signal.throwIfAborted();
      if (!isLockfileRefusal(err)) throw err;
      // Another set (a reload by reference) that is refused is the caller's answer, not this
      // host's state: the report keeps describing the set that serves.
      if (source !== this.source) throw err;
      this.lockState = { status: 'refused', path: source.lockPath, ...(source.ref ? { ref: source.ref } : {}), code: err.code, reason: err.message, ...(err.fix ? { fix: err.fix } : {}) };
      this.log('warn', `lockfile refused (${err.code}); ${this.active.size} plugin(s) keep serving: ${err.message}`);
      return this.report();
    }
    signal.throwIfAborted();
    if (this.trusted.length === 0 && !this.warnedUnsigned) {
      this.warnedUnsigned = true;
      this.log('warn', `no trusted signing keys: lockfile signatures are not checked, so whoever can write ${source.dir} decides what loads (configure --trust-key / --trust-dir)`);
    }
    const { lock, dir } = accepted;
    const envProblem = this.checkEnvironment(lock);
    const next = new Map<string, LoadedPlugin>();
    const statuses: PluginStatus[] = [];
    for (const [name, entry] of Object.entries(lock.plugins).sort(byName)) {
      const current = this.active.get(name);
      if (current && current.sha256 === entry.sha256) {
        next.set(name, current);
        statuses.push(loadedStatus(current));
        continue;
      }
      try {
        if (envProblem) throw envProblem;
        const loaded = await this.load(source.dir, name, { ...entry, file: platformFile(dir, entry.file) }, signal);
        next.set(name, loaded);
        statuses.push(loadedStatus(loaded));
      } catch (err) {
        signal.throwIfAborted();
        const { reason, code } = explain(err);
        this.log('warn', `rejected ${name}${current ? ' update (previous version keeps serving)' : ''}: ${reason}`);
        if (current) next.set(name, current);
        statuses.push(
          current
            ? { ...loadedStatus(current), reason: `update to sha256 ${entry.sha256.slice(0, 16)}… rejected: ${reason}`, code }
            : { name, status: 'rejected', file: platformFile(dir, entry.file), sha256: entry.sha256, reason, code },
        );
      }
    }
    statuses.push(...(await this.unknownFiles(source.dir, lock, dir)));
    signal.throwIfAborted();
    this.active = next;
    this.statuses = statuses;
    this.source = source;
    this.lockState = { status: 'accepted', path: source.lockPath, ...(source.ref ? { ref: source.ref } : {}), sha256: accepted.sha256, signedBy: accepted.signedBy, ...(accepted.serial ? { serial: accepted.serial } : {}) };
    this.servingSerial = Math.max(this.servingSerial, accepted.serial);
    return this.report();
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

  private async load(pluginDir: string, name: string, entry: LockedPlugin, signal: AbortSignal): Promise<LoadedPlugin> {
    const versionKey = `${name}\n${entry.sha256}`;
    const known = this.versions.get(versionKey);
    if (known instanceof BuilderError) throw known;
    if (known) return known;
    try {
      const loaded = await loadVerifiedPlugin(pluginDir, name, entry, this.options.sealer, this.options.loader, signal, this.options.canary);
      this.versions.set(versionKey, loaded);
      this.log('info', `loaded ${name} ${loaded.manifest.version} (${entry.file}, sha256 ${entry.sha256.slice(0, 16)}…, ${this.options.sealer.kind} copy)`);
      return loaded;
    } catch (err) {
      if (!(err instanceof LoadedButRefusedError)) throw err;
      this.versions.set(versionKey, err.error);
      throw err.error;
    }
  }

  /** Shared objects on disk that no lockfile entry names: reported, never loaded. */
  private async unknownFiles(pluginDir: string, lock: Lockfile, dir: string): Promise<PluginStatus[]> {
    const known = new Set(Object.values(lock.plugins).map((p) => p.file));
    const found: string[] = [];
    let more = 0;
    try {
      for await (const dirent of await opendir(join(pluginDir, dir))) {
        if (!dirent.name.endsWith('.so') || known.has(dirent.name)) continue;
        if (found.length < MAX_UNKNOWN_REPORTED) found.push(dirent.name);
        else more++;
      }
    } catch {
      return [];
    }
    if (more > 0) this.log('warn', `${more} more unlisted .so files in ${pluginDir} are not reported`);
    return found.sort().map((name) => {
      const file = platformFile(dir, name);
      const { reason, code } = explain(new UnknownPluginError(file));
      return { name: file, status: 'rejected' as const, file, reason, code };
    });
  }
}

function loadedStatus(plugin: LoadedPlugin): PluginStatus {
  return {
    name: plugin.name,
    status: 'loaded',
    file: plugin.file,
    sha256: plugin.sha256,
    version: plugin.manifest.version,
    functions: [...plugin.manifest.functions.keys()],
  };
}

function explain(err: unknown): { reason: string; code: string } {
  if (err instanceof BuilderError) return { reason: err.message, code: err.code };
  return { reason: describeCause(err), code: 'INTERNAL' };
}

export { DEFAULT_HOST_LIMITS, type HostLimits, type HostReport, type LockfileState, type PluginHostOptions, type PluginSource, type PluginState, type PluginStatus, type TrustMode } from './host-types.js';
