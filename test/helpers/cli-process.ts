import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO } from './project.js';

export interface CliProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (or 128 + signal number when killed) and when it came. */
  exited: Promise<{ code: number; at: number }>;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/** `builder …` as a real process (compiled CLI), for signals, pipes and exit timing. */
export function startCli(cwd: string, args: string[], env: Record<string, string | undefined> = {}): CliProcess {
  const child = spawn(process.execPath, [join(REPO, 'dist/builder.js'), ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{ code: number; at: number }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code: code ?? 128 + (SIGNALS[signal ?? ''] ?? 0), at: Date.now() })),
  );
  return { child, stdout: () => out, stderr: () => err, exited };
}
