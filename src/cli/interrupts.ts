import { CancelledError } from '../errors.js';

const SIGNAL_EXIT: Record<'SIGINT' | 'SIGTERM' | 'SIGHUP', number> = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 };
/** 128 + SIGPIPE, as a shell reports a process killed by writing to a closed pipe. */
export const EXIT_OUTPUT_CLOSED = 141;

/**
 * One AbortSignal for what should stop a command: SIGINT, SIGTERM, SIGHUP, or its output
 * being closed (`builder build | head` ends, EPIPE). The first one aborts with a
 * CancelledError carrying the exit code, so the command can clean up; a second signal exits at
 * once. Installed only by the commands that ask for it (`builder host` handles its own).
 */
export function processInterrupts(write: (text: string) => void): { signal: AbortSignal; outputClosed: () => void } {
  const controller = new AbortController();
  const stop = (reason: string, code: number) => {
    if (controller.signal.aborted) {
      write(`\n${reason} again: exiting now; containers of this run may remain (the next builder build removes them).\n`);
      process.exit(code);
    }
    write(`\n${reason}: stopping — removing this run's containers and staging (${reason === 'output closed' ? 'Ctrl-C' : reason} again to exit at once)\n`);
    controller.abort(new CancelledError(reason, code));
  };
  for (const name of Object.keys(SIGNAL_EXIT) as Array<keyof typeof SIGNAL_EXIT>) process.on(name, () => stop(name, SIGNAL_EXIT[name]));
  return {
    signal: controller.signal,
    outputClosed: () => {
      if (!controller.signal.aborted) controller.abort(new CancelledError('output closed', EXIT_OUTPUT_CLOSED));
    },
  };
}
