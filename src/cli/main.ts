#!/usr/bin/env node
import { processInterrupts } from './interrupts.js';
import { runCli } from './program.js';

// docker-modem formats an ssh:// engine's address with url.parse/url.resolve, which Node flags as
// DEP0170 on every ssh build; the address is never used as a URL (the ssh agent connects), so
// that one warning is noise on a user's terminal. Every other warning still prints.
const emitWarning = process.emitWarning.bind(process) as (...args: unknown[]) => void;
process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
  const code = typeof rest[0] === 'object' && rest[0] !== null ? (rest[0] as { code?: string }).code : rest[1];
  if (code === 'DEP0170' && /^The URL ssh:/.test(String(warning))) return;
  emitWarning(warning, ...rest);
}) as typeof process.emitWarning;

// A closed pipe (`builder build | head`) must stop the command cleanly, not crash it with an
// unhandled EPIPE; after that, output goes nowhere.
let closed = false;
let onClosed = () => undefined as void;
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE' && err.code !== 'ERR_STREAM_DESTROYED') throw err;
    closed = true;
    onClosed();
  });
}
const write = (stream: NodeJS.WriteStream) => (text: string) => {
  if (!closed) stream.write(text);
};

const code = await runCli(process.argv.slice(2), {
  stdout: write(process.stdout),
  stderr: write(process.stderr),
  env: process.env,
  cwd: process.cwd(),
  stderrIsTty: process.stderr.isTTY === true,
  ...(process.stderr.columns ? { columns: process.stderr.columns } : {}),
  interrupts: () => {
    const interrupts = processInterrupts(write(process.stderr));
    onClosed = interrupts.outputClosed;
    if (closed) interrupts.outputClosed();
    return interrupts.signal;
  },
});
process.exitCode = code;
// The command is over: nothing it started may keep the process alive (a socket an engine never
// closed, a timer). Give pending output a moment, then leave.
setTimeout(() => process.exit(code), 500).unref();
