import { printable } from '../util/printable.js';

/**
 * The report a loading program writes on stdout during a proof or a canary: one line per event,
 * each starting with the run's nonce, so a plugin that prints to stdout from its constructor
 * cannot be mistaken for the loader (it would have to guess the nonce).
 *
 *   NONCE loading FILE
 *   NONCE loaded FILE
 *   NONCE failed FILE MESSAGE
 *   NONCE done
 *
 * Each line is written with a newline before it, so output a plugin left without one cannot run
 * into it. FILE is one word (the paths are ours). A verdict counts only for the file whose
 * `loading` line came last, and only once. Code loaded in the process can read the nonce and
 * print anything: callers believe a `loaded` only from a process that then ended normally (see
 * prove-loads.ts, child-canary.ts) — a forged success followed by a crash is a crash. What no
 * protocol can stop is a hostile plugin faking a whole normal run; it is in the set being loaded
 * and runs in the host anyway. Only files asked about are kept, and a line is at most
 * MAX_LINE bytes: whatever a plugin writes, this holds a bounded amount.
 */
export type LoadState = 'loading' | 'loaded' | 'failed';

export interface FileEvent {
  state: LoadState;
  /** The loader's own words (failed only). */
  message?: string;
}

const MAX_LINE = 16 * 1024;

export class ProofLines {
  private readonly events = new Map<string, FileEvent>();
  private partial = '';
  private skipping = false;
  private finished = false;
  /** The last file a "loading" line named: when the process dies without a verdict, the culprit. */
  private current: string | null = null;

  constructor(
    private readonly nonce: string,
    private readonly files: ReadonlySet<string>,
  ) {
    if (!/^[0-9a-f]{16,64}$/.test(nonce)) throw new Error('a proof nonce is 16 to 64 lowercase hex digits');
  }

  push(chunk: Buffer | string): void {
    let text = this.partial + (typeof chunk === 'string' ? chunk : chunk.toString('latin1'));
    let newline: number;
    while ((newline = text.indexOf('\n')) >= 0) {
      const line = text.slice(0, newline);
      text = text.slice(newline + 1);
      if (this.skipping) this.skipping = false;
      else this.line(line);
    }
    // A line longer than any the loader writes is not the loader's: drop it up to its end.
    if (text.length > MAX_LINE) {
      this.skipping = true;
      text = '';
    }
    this.partial = text;
  }

  /** The stream ended: a last line without a newline is still a line. */
  end(): void {
    if (!this.skipping && this.partial) this.line(this.partial);
    this.partial = '';
  }

  private line(raw: string): void {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    const prefix = `${this.nonce} `;
    if (!line.startsWith(prefix)) return;
    const rest = line.slice(prefix.length);
    if (rest === 'done') {
      this.finished = true;
      return;
    }
    const match = /^(loading|loaded|failed) (\S+)(?: (.*))?$/s.exec(rest);
    if (!match) return;
    const [, state, file, message] = match as unknown as [string, LoadState, string, string | undefined];
    if (!this.files.has(file)) return;
    const known = this.events.get(file);
    if (state === 'loading') {
      // Whatever it says, the process was last seen loading this file: if it dies now, this is the culprit.
      this.current = file;
      if (!known) this.events.set(file, { state });
      return;
    }
    // A verdict is for the file being loaded, and final: a later line cannot turn a failure into a success.
    if (this.current !== file || (known && known.state !== 'loading')) return;
    this.events.set(file, { state, ...(state === 'failed' ? { message: Buffer.from(message ?? '', 'latin1').toString('utf8') || 'failed (no message)' } : {}) });
    this.current = null;
  }

  /** Each file's last event (files never named are absent). */
  get results(): ReadonlyMap<string, FileEvent> {
    return this.events;
  }

  /** A file whose load began and never ended: the process died, or was stopped, in it. */
  get unfinished(): string | null {
    return this.current;
  }

  /** The program reported it went through its whole list. */
  get done(): boolean {
    return this.finished;
  }
}

const LAST_LINES = 12;

/** What a dying runtime or loader said first (a Go panic ends in a long goroutine dump), then the last lines. */
const VERDICT_LINE = /^(fatal error:|panic:|unexpected fault|SIG[A-Z]+:|runtime:|plugin:|Inconsistency detected by ld\.so|Segmentation fault|Aborted)/;

export function lastWords(output: string): string {
  const lines = output.split('\n').map((l) => l.trimEnd()).filter(Boolean);
  const said = lines.filter((l) => VERDICT_LINE.test(l.trimStart())).slice(0, 3);
  const last = lines.slice(-LAST_LINES);
  return (said.length ? `; it said: ${printable(said.join(' | '))}` : '') + (last.length ? `; its last output: ${printable(last.join(' | '))}` : '');
}
