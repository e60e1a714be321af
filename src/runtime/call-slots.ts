import { BadCallError } from '../errors.js';

interface Waiter {
  plugin: string;
  grant: () => void;
  refuse: (err: BadCallError) => void;
}

/**
 * Worker threads for plugin calls, shared fairly. libuv's pool runs both plugin calls and file
 * reads, and a call that never returns keeps its thread for good; so at most `max` calls run at
 * once, one plugin at most `perPlugin` of them (a hanging function cannot take every thread with
 * the calls admitted before its first one times out), and the rest wait in arrival order — up to
 * `maxWaiting`, then CALLS_BUSY — instead of being turned away.
 */
export class CallSlots {
  private running = 0;
  private readonly byPlugin = new Map<string, number>();
  private readonly waiting: Waiter[] = [];

  constructor(
    private readonly max: number,
    private readonly perPlugin: number,
    private readonly maxWaiting: number,
  ) {}

  get inFlight(): number {
    return this.running;
  }

  /** A slot for a call to `plugin`, within `ms`; the returned function gives it back (once). */
  acquire(plugin: string, ms: number, what: () => string): Promise<() => void> {
    // A call that fits goes at once: every waiter is waiting for a thread it cannot have yet
    // (each release hands free threads to the waiters that fit, in order, before anyone new).
    if (this.fits(plugin)) return Promise.resolve(this.take(plugin));
    if (this.waiting.length >= this.maxWaiting) {
      return Promise.reject(new BadCallError(`${this.waiting.length} calls are already waiting for a worker thread; try again`, 503, 'CALLS_BUSY'));
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.drop(waiter);
        reject(new BadCallError(`${what()} waited ${ms} ms for a worker thread (--call-timeout) and was not run`, 504, 'CALL_TIMEOUT'));
      }, ms);
      const waiter: Waiter = {
        plugin,
        grant: () => {
          clearTimeout(timer);
          resolve(this.take(plugin));
        },
        refuse: (err) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      this.waiting.push(waiter);
    });
  }

  /** Refuse every call waiting for `plugin` (it got stuck). */
  refuseWaiting(plugin: string, err: BadCallError): void {
    for (const waiter of this.waiting.filter((w) => w.plugin === plugin)) {
      this.drop(waiter);
      waiter.refuse(err);
    }
  }

  private fits(plugin: string): boolean {
    return this.running < this.max && (this.byPlugin.get(plugin) ?? 0) < this.perPlugin;
  }

  private take(plugin: string): () => void {
    this.running++;
    this.byPlugin.set(plugin, (this.byPlugin.get(plugin) ?? 0) + 1);
    let given = false;
    return () => {
      if (given) return;
      given = true;
      this.running--;
      this.byPlugin.set(plugin, (this.byPlugin.get(plugin) ?? 1) - 1);
      this.next();
    };
  }

  /** Grant waiting calls in arrival order, skipping those whose plugin has no slot left. */
  private next(): void {
    for (let i = 0; i < this.waiting.length && this.running < this.max; ) {
      const waiter = this.waiting[i]!;
      if (!this.fits(waiter.plugin)) {
        i++;
        continue;
      }
      this.waiting.splice(i, 1);
      waiter.grant();
    }
  }

  private drop(waiter: Waiter): void {
    const i = this.waiting.indexOf(waiter);
    if (i !== -1) this.waiting.splice(i, 1);
  }
}
