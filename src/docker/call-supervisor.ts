import { EngineAnswerTooLarge } from './bounded-answers.js';
import { BuilderError, EngineLostError, EngineRequestError, EngineTimeoutError } from '../errors.js';
import type { EngineTimeouts } from './engine.js';

/** Every engine call runs under one supervisor: the scope's cancellation, a time limit per kind of call, and liveness pings for the long ones. */

export type CallKind = 'request' | 'transfer' | 'run';

const OPTION_FOR: Record<CallKind, string> = { request: '--engine-timeout', transfer: '--engine-timeout (transfers get 20× it)', run: '--compile-timeout' };

// dockerode passes `abortSignal` on to docker-modem for every call, but its type definitions
// only know it for some: one typed hole instead of a cast at each call.
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export const abortable = (signal: AbortSignal): {} => ({ abortSignal: signal });

export function statusOf(err: unknown): number | undefined {
  return (err as { statusCode?: number } | null)?.statusCode;
}

/** Thrown inside a call when the run limit passes; a compile that is too slow is the plugin's failure, not the engine's. */
export class RunLimitReached extends Error {}

export interface Scope {
  signal: AbortSignal | undefined;
  labels: Record<string, string>;
}

/** Shared by an engine and its scoped copies: once the engine is known lost, cleanup calls fail at once instead of each waiting out its limit. */
interface Health {
  lost: EngineLostError | null;
}

export function describe(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}

/** Settle when `promise` does or when `signal` aborts, whichever is first. */
export function raceSignal<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/** A call's supervisor, shared by an engine and its scoped copies (one health record: once lost, lost for all). */
export class CallSupervisor {
  constructor(
    private readonly endpoint: string,
    /** One ping on a new connection: the liveness check. */
    private readonly ping: (signal: AbortSignal) => Promise<unknown>,
    private readonly timeouts: EngineTimeouts,
    private readonly scope: Scope,
    private readonly health: Health,
  ) {}

  /** The same supervisor for a narrower scope (another signal, more labels). */
  scoped(scope: Scope): CallSupervisor {
    return new CallSupervisor(this.endpoint, this.ping, this.timeouts, scope, this.health);
  }

  /**
   * Run `fn` as one engine call of `kind`: it gets a signal that aborts on the scope's signal,
   * the time limit, or a failed liveness ping, and the call rejects at that moment even if the
   * underlying request ignores the abort. `cleanup` calls ignore the scope's signal: they run
   * after a cancellation, to remove what the run made.
   */
  async call<T>(during: string, kind: CallKind, fn: (signal: AbortSignal) => Promise<T>, options: { cleanup?: boolean; limitMs?: number; source?: AbortSignal } = {}): Promise<T> {
    const outer = options.cleanup ? undefined : this.scope.signal;
    outer?.throwIfAborted();
    if (options.cleanup && this.health.lost) throw this.health.lost;
    const inner = new AbortController();
    const fail = (err: unknown) => {
      if (!inner.signal.aborted) inner.abort(err);
    };
    const onOuter = () => fail(outer?.reason);
    outer?.addEventListener('abort', onOuter, { once: true });
    const limit = options.limitMs ?? (kind === 'request' ? this.timeouts.requestMs : kind === 'transfer' ? this.timeouts.transferMs : this.timeouts.runMs);
    const timer = setTimeout(() => fail(kind === 'run' ? new RunLimitReached() : new EngineTimeoutError(this.endpoint, during, limit, OPTION_FOR[kind])), limit);
    let checking = false;
    const watchdog =
      kind === 'request'
        ? undefined
        : setInterval(() => {
            if (checking) return;
            checking = true;
            this.checkAlive(during).then(() => (checking = false), fail);
          }, this.timeouts.livenessMs);
    const aborted = new Promise<never>((_, reject) => inner.signal.addEventListener('abort', () => reject(inner.signal.reason), { once: true }));
    aborted.catch(() => undefined);
    try {
      return await Promise.race([fn(inner.signal), aborted]);
    } catch (err) {
      // An upload stopped because its own source failed says nothing about the engine.
      if (options.source?.aborted) throw options.source.reason;
      const error = inner.signal.aborted ? inner.signal.reason : this.engineError(err, during);
      if (error instanceof EngineLostError || error instanceof EngineTimeoutError) this.health.lost ??= error instanceof EngineLostError ? error : new EngineLostError(this.endpoint, during, error.message);
      throw error;
    } finally {
      clearTimeout(timer);
      clearInterval(watchdog);
      outer?.removeEventListener('abort', onOuter);
      if (!inner.signal.aborted) inner.abort(new Error('call finished'));
    }
  }

  /**
   * A ping on a new connection; rejects with ENGINE_LOST. A ping costs the engine nothing, so
   * its patience is the request limit but never more than 10 s.
   */
  private async checkAlive(during: string): Promise<void> {
    const patienceMs = Math.min(this.timeouts.requestMs, 10_000);
    const signal = AbortSignal.timeout(patienceMs);
    try {
      await raceSignal(this.ping(signal), signal);
    } catch (err) {
      const detail = signal.aborted ? `it stopped answering (no answer to a ping within ${patienceMs / 1000} s)` : `a ping failed (${describe(err)})`;
      throw new EngineLostError(this.endpoint, during, detail, err);
    }
  }

  /** An HTTP status is the engine's answer; anything else (reset, hang-up, a cut stream) means it is gone. */
  private engineError(err: unknown, during: string): unknown {
    if (err instanceof BuilderError) return err;
    // A hostile or broken engine, not a slow one: the connection is dropped, the run ends.
    if (err instanceof EngineAnswerTooLarge) return new EngineLostError(this.endpoint, during, `${err.message}; the answer was cut and the connection dropped`, err);
    const status = statusOf(err);
    if (status !== undefined) return new EngineRequestError(this.endpoint, during, status, (err as Error).message);
    return new EngineLostError(this.endpoint, during, `the connection failed (${describe(err)})`, err);
  }
}
