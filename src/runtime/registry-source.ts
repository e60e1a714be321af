import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readSmallFile } from '../util/safe-file.js';
import { writeFileAtomic } from '../util/write-file-atomic.js';
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
  /** `registry/repository` names a reload by reference may pull from, besides the --from one. */
  allowRepositories?: readonly string[];
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

/** In the store: the --from a host started with, and the set it serves since (a reload by reference). */
const SERVING_RECORD = 'serving.json';

const repositoryOf = (ref: Reference) => `${ref.registry}/${ref.repository}`;

/**
 * A host's registry side: sets pulled into its store, laid out as plugin directories the host
 * loads from exactly as from a deployed one (signature, hashes, sealed copies, canary).
 */
export class RegistrySource {
  private serving: string | null = null;
  /** The --from this host was started with: what the record of the serving set is kept against. */
  private declared: string | null = null;
  /** Sets pulled and not yet loaded or refused (by count): the collector keeps them. */
  private readonly pinned = new Map<string, number>();
  /** Pulls run one at a time: the collector of one must not remove what another is laying out. */
  private turn: Promise<unknown> = Promise.resolve();

  private constructor(private readonly store: PluginStore, private readonly options: RegistrySourceOptions) {}

  static async open(options: RegistrySourceOptions): Promise<RegistrySource> {
    return new RegistrySource(await PluginStore.open(options.storeDir, options.storeMaxBytes), options);
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
      keep: [...(this.serving ? [this.serving] : []), ...this.pinned.keys()],
      log: this.options.log,
      signal,
    });
    this.pinned.set(pulled.key, (this.pinned.get(pulled.key) ?? 0) + 1);
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
    this.declared = text;
    const signal = AbortSignal.timeout(deadlineMs);
    // A set reloaded by reference since this --from was given survives a restart: the declared
    // one is what changed when it differs, and then it wins.
    const record = await this.readServingRecord();
    if (record && record.from === text && record.serving !== text) {
      try {
        // The record is the store's, so it gets the rule a reload by reference gets.
        this.checkReloadAllowed(record.serving);
        // From the store, else one try of the registry: a set that cannot be had at once is not
        // worth the retries --from gets.
        let where = 'from the store; the registry was not asked';
        const resumed = await this.pull(record.serving, signal, false).catch((err: unknown) => {
          if (!isTransient(err)) throw err;
          where = 'from the registry';
          return this.pull(record.serving, signal, true);
        });
        this.options.log('info', `resuming ${resumed.ref} ${where}: it was reloaded by reference after the start from ${text} (a new --from replaces it)`);
        return resumed;
      } catch (err) {
        this.options.log('warn', `cannot resume ${record.serving} (${(err as Error).message}); starting from ${text}`);
      }
    }
    return this.fetchFirst(text, signal, deadlineMs);
  }

  private async fetchFirst(text: string, signal: AbortSignal, deadlineMs: number): Promise<PulledSource> {
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
        // pullSet turns a deadline into REGISTRY_TIMEOUT: what reaches here is a RegistryError or not transient.
        if (!isTransient(err) || signal.aborted) throw err;
        this.options.log('warn', `pull ${attempt} of ${text} failed (${(err as RegistryError).code}): ${(err as Error).message}; the store has no copy; retrying in ${wait / 1000} s`);
        try {
          await sleep(wait, undefined, { signal });
        } catch {
          throw new RegistryError('REGISTRY_UNREACHABLE', `${text} could not be pulled within ${deadlineMs / 1000} s (${attempt} attempts; last: ${(err as Error).message}), and the store ${this.options.storeDir} has no copy.`, {
            fix: 'Start the registry (or fix its address); a host restarted with the set in its store needs no registry.',
          });
        }
      }
    }
  }

  private async readServingRecord(): Promise<{ from: string; serving: string } | null> {
    try {
      const value = JSON.parse((await readSmallFile(join(this.options.storeDir, SERVING_RECORD), 'The serving record', 16 * 1024)).toString('utf8')) as { from?: unknown; serving?: unknown };
      return typeof value.from === 'string' && typeof value.serving === 'string' ? { from: value.from, serving: value.serving } : null;
    } catch {
      return null;
    }
  }

  /**
   * A reload by reference, as an HTTP caller asks for it: only with trusted keys (else the
   * caller would choose the code this host runs) and only from the --from repository or one
   * allowed by name (else the caller would choose which hosts this one fetches from).
   */
  async pullForReload(text: string, signal: AbortSignal): Promise<PulledSource> {
    this.checkReloadAllowed(text);
    return this.pull(text, signal);
  }

  /** The rule for a set other than --from (a reload by reference, or resuming one): keys, and an allowed repository. */
  private checkReloadAllowed(text: string): void {
    const ref = readReference(text);
    if (this.options.trustedKeys.length === 0) {
      throw new RegistryError('REF_NOT_ALLOWED', 'This host trusts no signing key: a reload by reference would let the caller choose the code it runs.', { fix: 'Start the host with --trust-key or --trust-dir (or restart it with another --from).' });
    }
    const allowed = new Set([...(this.declared ? [repositoryOf(readReference(this.declared))] : []), ...(this.options.allowRepositories ?? [])]);
    if (!allowed.has(repositoryOf(ref))) {
      throw new RegistryError('REF_NOT_ALLOWED', `${repositoryOf(ref)} is not a repository this host pulls from (${[...allowed].join(', ')}).`, { fix: 'Publish the set to the --from repository, or start the host with --allow-repository REGISTRY/REPO.' });
    }
  }

  /** A pulled set was loaded or refused: it needs no pin any more (the serving one is kept as serving). */
  release(pulled: Pick<PulledSource, 'key'>): void {
    const n = (this.pinned.get(pulled.key) ?? 0) - 1;
    if (n > 0) this.pinned.set(pulled.key, n);
    else this.pinned.delete(pulled.key);
  }

  /**
   * What the host serves now (its serving source, read after its reload): the store's collector
   * keeps it, and a restart with the same --from resumes it. Given the host's own state, two
   * reloads finishing in either order record the one that serves.
   */
  async markServing(serving: Readonly<PluginSource>): Promise<void> {
    if (!serving.ref) return;
    const key = basename(serving.dir);
    const ref = serving.ref;
    this.serving = key;
    if (this.declared === null) return;
    await writeFileAtomic(join(this.options.storeDir, SERVING_RECORD), JSON.stringify({ from: this.declared, serving: ref }) + '\n').catch((err: Error) => {
      this.options.log('warn', `could not record the serving set in the store (${err.message}): a restart starts from --from again`);
    });
  }
}
