/** The world the CLI talks to, passed in so commands are testable without a process. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  /** Whether stderr is a terminal (progress draws a live area there), and its width. */
  stderrIsTty?: boolean;
  columns?: number;
  /**
   * Start listening for what should stop a command (signals, a closed output) and return the
   * signal that aborts then. The real process installs handlers; tests pass their own signal.
   */
  interrupts?: () => AbortSignal;
}
