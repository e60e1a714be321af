import { join } from 'node:path';
import { BuilderError } from '../errors.js';
import { parseReference, ReferenceError, type Reference } from '../oci/reference.js';
import { createRegistryClient, isTransient, PluginStore, pullSet, RegistryError, type PulledSet, type RegistryAccess } from '../registry/index.js';
import { signaturePathFor } from '../trust/lockfile-signature.js';
import type { TrustedKey } from '../trust/keys.js';
import type { PluginSource } from './host-types.js';

export interface RegistrySourceOptions extends RegistryAccess {
  storeDir: string;
  storeMaxBytes: number;
  /** This host's platform: its part of a multi-platform set is all it fetches. */
  platform: string;
  trustedKeys: readonly TrustedKey[];
  allowTag: boolean;
  log: (level: 'info' | 'warn', message: string) => void;
}

export interface PulledSource extends PluginSource {
  ref: string;
  key: string;
  pulled: PulledSet;
}

/** `repo@sha256:…` read as a reference, or BAD_REFERENCE naming why not. */
export function readReference(text: string): Reference {
  try {
    return parseReference(text);
  } catch (err) {
    if (err instanceof ReferenceError) throw new RegistryError('BAD_REFERENCE', err.message, { fix: 'Write it as REGISTRY/REPOSITORY@sha256:<64 hex digits>.' });
    throw err;
  }
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), reject(signal.reason)), { once: true });
  });

/**
 * A host's registry side: sets pulled into its store, laid out as plugin directories the host
 * loads from exactly as from a deployed one (signature, hashes, sealed copies, canary).
 */
export class RegistrySource {
  private serving: string | null = null;
  /** Pulls run one at a time: the collector of one must not remove what another is laying out. */
  private turn: Promise<unknown> = Promise.resolve();

  private constructor(private readonly store: PluginStore, private readonly options: RegistrySourceOptions) {}

  static async open(options: RegistrySourceOptions): Promise<RegistrySource> {
    let store: PluginStore;
    try {
      store = await PluginStore.open(options.storeDir, options.storeMaxBytes);
    } catch (err) {
      if (err instanceof BuilderError) throw err;
      throw new BuilderError('WRITE_FAILED', `The plugin store ${options.storeDir} cannot be used: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`, { fix: 'Give --store a directory this user can write (a volume, in a container).', cause: err });
    }
    return new RegistrySource(store, options);
  }

  async close(): Promise<void> {
    await this.store.close();
  }

  /** The set a reference names, from the registry (within `signal`), parts already stored reused. */
  pull(text: string, signal: AbortSignal, online = true): Promise<PulledSource> {
    const run = this.turn.then(() => this.pullNow(text, signal, online));
    this.turn = run.catch(() => undefined);
    return run;
  }

  private async pullNow(text: string, signal: AbortSignal, online: boolean): Promise<PulledSource> {
    signal.throwIfAborted();
    const ref = readReference(text);
    const client = online ? createRegistryClient(ref, this.options) : null;
    const pulled = await pullSet(client, this.store, {
      ref,
      platform: this.options.platform,
      trustedKeys: this.options.trustedKeys,
      allowTag: this.options.allowTag,
      keep: this.serving ? [this.serving] : [],
      log: this.options.log,
      signal,
    });
    const lockPath = join(pulled.dir, 'builder.lock.json');
    return { dir: pulled.dir, lockPath, signaturePath: signaturePathFor(lockPath), ref: pulled.pinned, key: pulled.key, pulled };
  }

  /**
   * The first set: from the store alone when it holds it (a restart needs no registry), else
   * from the registry, retried with backoff (1 s doubling to 30 s) while the registry is
   * unreachable, until `deadlineMs`. What is not transient (a wrong digest, a refused
   * signature) fails at once.
   */
  async initial(text: string, deadlineMs: number): Promise<PulledSource> {
    const signal = AbortSignal.timeout(deadlineMs);
    const ref = readReference(text);
    if (ref.digest) {
      try {
        const stored = await this.pull(text, signal, false);
        this.options.log('info', `serving ${stored.ref} from the store (${stored.dir}); the registry was not asked`);
        return stored;
      } catch (err) {
        if (!isTransient(err)) throw err;
      }
    }
    for (let attempt = 1, wait = 1000; ; attempt++, wait = Math.min(wait * 2, 30_000)) {
      try {
        const pulled = await this.pull(text, signal);
        this.options.log('info', `pulled ${pulled.ref}: ${pulled.pulled.fetched} blob(s) fetched (${pulled.pulled.fetchedBytes} bytes), the rest from the store`);
        return pulled;
      } catch (err) {
        if (!isTransient(err) || signal.aborted) throw signal.aborted && !(err instanceof RegistryError) ? new RegistryError('REGISTRY_TIMEOUT', `${text} could not be pulled within ${deadlineMs / 1000} s`) : err;
        this.options.log('warn', `pull ${attempt} of ${text} failed (${(err as RegistryError).code}): ${(err as Error).message}; the store has no copy; retrying in ${wait / 1000} s`);
        try {
          await sleep(wait, signal);
        } catch {
          throw new RegistryError('REGISTRY_UNREACHABLE', `${text} could not be pulled within ${deadlineMs / 1000} s (${attempt} attempts; last: ${(err as Error).message}), and the store ${this.options.storeDir} has no copy.`, {
            fix: 'Start the registry (or fix its address); a host restarted with the set in its store needs no registry.',
          });
        }
      }
    }
  }

  /** The set now serving: the store's collector keeps it. */
  markServing(key: string): void {
    this.serving = key;
  }
}
