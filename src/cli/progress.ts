import type { BuildEvent, BuildReporter } from '../building/build-events.js';
import { BuilderError } from '../errors.js';
import { formatBuildEvent } from './format-build.js';
import type { CliIo } from './io.js';
import { isDebug } from './run-command.js';
import { printable } from '../util/printable.js';

/**
 * Build progress on stderr, in one of three styles: `tty` keeps a live area at the bottom (each
 * plugin being built with its elapsed time, the builder image's current step) under the lines
 * that are done; `plain` writes one line per event, for CI logs; `quiet` writes nothing. The
 * result (text or --json) is stdout's, so any style goes with --json.
 */

export type ProgressMode = 'tty' | 'plain' | 'quiet';
export const PROGRESS_OPTION = ['--progress <mode>', 'progress on stderr: auto (tty on a terminal, else plain), tty, plain or quiet', 'auto'] as const;

export function progressMode(option: string | undefined, io: Pick<CliIo, 'env' | 'stderrIsTty'>): ProgressMode {
  const value = option ?? 'auto';
  if (value === 'tty' || value === 'plain' || value === 'quiet') return value;
  if (value !== 'auto') throw new BuilderError('BAD_OPTION', `--progress must be auto, tty, plain or quiet, got "${value}".`);
  const terminal = io.stderrIsTty === true && io.env.TERM !== 'dumb' && !io.env.CI;
  return terminal ? 'tty' : 'plain';
}

/** `Step 3/7 : RUN apt-get …` from the engine's build output, as `step 3/7 RUN apt-get …`. */
export function builderStep(line: string): string | null {
  const m = /^Step (\d+)\/(\d+) : (.*)$/.exec(line.trim());
  return m ? `step ${m[1]}/${m[2]} ${m[3]}` : null;
}

export interface Progress {
  report: BuildReporter;
  /** Stop the clock and leave the terminal clean (call once the command is done, whatever happened). */
  close(): void;
}

/** The progress a command's `--progress` asks for, on the CLI's stderr (DEBUG and the terminal's width taken from it). */
export function cliProgress(option: string | undefined, io: Pick<CliIo, 'env' | 'stderrIsTty' | 'stderr' | 'columns'>): Progress {
  return createProgress(progressMode(option, io), io.stderr, { debug: isDebug(io.env), ...(io.columns ? { columns: io.columns } : {}) });
}

export function createProgress(mode: ProgressMode, write: (text: string) => void, options: { debug: boolean; columns?: number; now?: () => number }): Progress {
  if (mode === 'quiet') return { report: () => undefined, close: () => undefined };
  if (mode === 'plain') return { report: plainReporter(write, options.debug), close: () => undefined };
  return new LiveProgress(write, options.debug, options.columns ?? 80, options.now ?? Date.now);
}

function plainReporter(write: (text: string) => void, debug: boolean): BuildReporter {
  return (event) => {
    if (event.type === 'image-output' && !debug) {
      const step = builderStep(event.line);
      if (step) write(`• builder image: ${printable(step)}\n`);
      return;
    }
    const line = formatBuildEvent(event, debug);
    if (line !== null) write(`${line}\n`);
  };
}

const ESC = '\x1b[';

class LiveProgress implements Progress {
  private readonly building = new Map<string, { kind: string; since: number }>();
  private step: string | null = null;
  private drawn = 0;
  private readonly timer: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly write: (text: string) => void,
    private readonly debug: boolean,
    private readonly columns: number,
    private readonly now: () => number,
  ) {
    this.timer = setInterval(() => this.redraw(''), 1000);
    this.timer.unref();
  }

  readonly report = (event: BuildEvent): void => {
    if (this.closed) return;
    switch (event.type) {
      case 'plugin-start':
        this.building.set(event.name, { kind: event.kind, since: this.now() });
        return this.redraw('');
      case 'plugin-progress':
        return this.redraw('');
      case 'image-output': {
        const step = builderStep(event.line);
        if (step) this.step = step;
        return this.redraw(this.debug ? `  | ${printable(event.line)}\n` : '');
      }
      case 'plugin-built':
      case 'plugin-failed':
      case 'plugin-unchanged':
        this.building.delete(event.name);
        break;
      case 'step':
        // The builder image is there (built, pulled or reused): its steps are over.
        if (/^(\[[^\]]+\] )?builder image /.test(event.message)) this.step = null;
        break;
    }
    const line = formatBuildEvent(event, this.debug);
    this.redraw(line === null ? '' : `${line}\n`);
  };

  /** Erase the live lines, write what is done, draw the live lines again. */
  private redraw(done: string): void {
    if (this.closed) return;
    const live = this.liveLines();
    this.write(`${this.drawn > 0 ? `${ESC}${this.drawn}A${ESC}J` : ''}${done}${live.map((l) => `${l}\n`).join('')}`);
    this.drawn = live.length;
  }

  private liveLines(): string[] {
    const width = Math.max(20, this.columns - 1);
    // A wrapped line would throw the count of lines to erase off: every live line fits the width.
    const fit = (s: string) => (s.length > width ? `${s.slice(0, width - 1)}…` : s);
    const lines = [...this.building].map(([name, { kind, since }]) => fit(`  ${printable(name)} (${printable(kind)}): building ${Math.floor((this.now() - since) / 1000)} s`));
    if (this.step) lines.unshift(fit(`• builder image: ${printable(this.step)}`));
    return lines;
  }

  close(): void {
    if (this.closed) return;
    clearInterval(this.timer);
    if (this.drawn > 0) this.write(`${ESC}${this.drawn}A${ESC}J`);
    this.drawn = 0;
    this.closed = true;
  }
}
