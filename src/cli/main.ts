#!/usr/bin/env node
import { processInterrupts } from './interrupts.js';
import { runCli } from './program.js';

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
