// Runs the compiled CLI in this process and prints its peak resident set size (getrusage's
// maxRSS) when the command is over: the number the memory benchmark compares.
import { runCli } from '../dist/cli/program.js';

const code = await runCli(process.argv.slice(2), {
  stdout: () => undefined,
  stderr: () => undefined,
  env: process.env,
  cwd: process.cwd(),
});
process.stdout.write(JSON.stringify({ code, maxRssBytes: process.resourceUsage().maxRSS * 1024 }) + '\n');
