import { BuilderError, EXIT_UNUSABLE } from '../errors.js';
import type { CliIo } from './io.js';
import { printableLines, printableMessage } from '../util/printable.js';

export interface CommandResult {
  /** Printed under --json; must carry an `outcome`. */
  json: { outcome: string } & object;
  text: string;
  exitCode: number;
}

export function isDebug(env: CliIo['env']): boolean {
  return /(^|,)builder:(\*|debug)/.test(env.DEBUG ?? '');
}

/**
 * Run a command's action and turn its result or error into output and an exit code. The
 * library throws typed errors; this is the one place that decides how they look.
 */
export async function runCommand(io: CliIo, action: () => Promise<CommandResult>, json: boolean): Promise<number> {
  try {
    const result = await action();
    // JSON escapes control characters itself; text from outside goes through the one escaper.
    io.stdout(json ? JSON.stringify(result.json, null, 2) + '\n' : printableLines(result.text));
    return result.exitCode;
  } catch (err) {
    if (err instanceof BuilderError) {
      if (json) {
        io.stdout(JSON.stringify({ outcome: 'error', error: { code: err.code, message: err.message, fix: err.fix, ...details(err) } }, null, 2) + '\n');
      } else {
        io.stderr(`error: ${printableMessage(err.message)}\n${err.fix ? `fix: ${printableMessage(err.fix)}\n` : ''}`);
      }
      if (isDebug(io.env) && err.cause) io.stderr(printableLines(`cause: ${String((err.cause as Error).stack ?? err.cause)}\n`));
      return err.exitCode;
    }
    const message = err instanceof Error ? (isDebug(io.env) ? err.stack ?? err.message : err.message) : String(err);
    if (json) io.stdout(JSON.stringify({ outcome: 'error', error: { code: 'INTERNAL', message } }, null, 2) + '\n');
    else io.stderr(`error: ${printableMessage(message)}\n(set DEBUG=builder:* for details)\n`);
    return EXIT_UNUSABLE;
  }
}

function details(err: BuilderError): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of ['issues', 'differences'] as const) {
    const value = (err as unknown as Record<string, unknown>)[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}
