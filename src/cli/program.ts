import { Command, CommanderError } from 'commander';
import { EXIT_UNUSABLE } from '../errors.js';
import { toolVersion } from '../version.js';
import { registerBuild } from './commands/build.js';
import { registerCanary } from './commands/canary.js';
import { registerDeploy } from './commands/deploy.js';
import { registerEnv } from './commands/env.js';
import { registerHost } from './commands/host.js';
import { registerInit } from './commands/init.js';
import { registerKeygen } from './commands/keygen.js';
import { registerLock } from './commands/lock.js';
import { registerPlan } from './commands/plan.js';
import { registerPublish } from './commands/publish.js';
import { registerPull } from './commands/pull.js';
import { registerRehearse } from './commands/rehearse.js';
import { registerPrepare } from './commands/prepare.js';
import { registerSchema } from './commands/schema.js';
import { registerSign } from './commands/sign.js';
import { registerDrift, registerVerify } from './commands/verify.js';
import type { CliIo } from './io.js';
import { type CommandResult, runCommand } from './run-command.js';
import { printableLines } from '../util/printable.js';

/** Parse argv, run the command, return the exit code. Never calls process.exit. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  let exitCode = 0;
  const program = new Command('builder')
    .description('Build native plugins pinned to their host image, lock them, and verify them.')
    .version(toolVersion(), '-V, --version', 'print the version of builder')
    .exitOverride()
    // Usage errors repeat the arguments given: they are outside text too.
    .configureOutput({ writeOut: (t) => io.stdout(printableLines(t)), writeErr: (t) => io.stderr(printableLines(t)) });
  const run = async (action: () => Promise<CommandResult>, json: boolean) => {
    exitCode = await runCommand(io, action, json);
  };
  registerInit(program, io, run);
  registerBuild(program, io, run);
  registerPlan(program, io, run);
  registerPrepare(program, io, run);
  registerEnv(program, io, run);
  registerVerify(program, io, run);
  registerDrift(program, io, run);
  registerRehearse(program, io, run);
  registerKeygen(program, io, run);
  registerSign(program, io, run);
  registerDeploy(program, io, run);
  registerPublish(program, io, run);
  registerPull(program, io, run);
  registerLock(program, io, run);
  registerSchema(program, run);
  registerCanary(program, io, (code) => {
    exitCode = code;
  });
  registerHost(program, io, (code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_UNUSABLE;
    throw err;
  }
  return exitCode;
}
