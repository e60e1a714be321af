import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { BuilderError } from '../../errors.js';
import type { CliIo } from '../io.js';
import type { CommandResult } from '../run-command.js';

interface MergeOptions {
  config?: string;
  outDir?: string;
  json?: boolean;
}

export function registerLock(program: Command, io: CliIo, run: (action: () => Promise<CommandResult>, json: boolean) => Promise<void>): void {
  const lock = program.command('lock').description('work with lockfiles');
  lock
    .command('merge')
    .description("merge the lockfiles of shards 1…N (builder build --shard K/N) and their artifacts into the project's lockfile and outDir")
    .argument('<lockfiles...>', "each shard's lockfile, its artifacts beside it")
    .option('-c, --config <file>', 'config file naming outDir and the lockfile (default: builder.config.json)')
    .option('--out-dir <dir>', 'write the artifacts and builder.lock.json here instead of the config\'s outDir')
    .option('--json', 'print one JSON object with an "outcome"')
    .action((lockfiles: string[], options: MergeOptions) =>
      run(async () => {
        const { acquireProjectLock } = await import('../../building/project-lock.js');
        const { mergeShardOutputs } = await import('../../shard/merge-outputs.js');
        const { outDir, lockfile, configPlugins } = await destination(io.cwd, options);
        await mkdir(outDir, { recursive: true });
        const guard = await acquireProjectLock(lockfile, { wait: true });
        try {
          const merged = await mergeShardOutputs({ shardLockfiles: lockfiles.map((f) => resolve(io.cwd, f)), outDir, lockfile, ...(configPlugins ? { configPlugins } : {}) });
          const names = Object.keys(merged.from).sort();
          return {
            json: { outcome: 'merged', lockfile, outDir, shards: lockfiles.length, plugins: merged.from, removedSignature: merged.removedSignature },
            text:
              `Merged ${lockfiles.length} shard lockfile(s): ${names.length} plugin(s) (${names.join(', ')}) into ${outDir}; lockfile ${lockfile}\n` +
              (merged.removedSignature ? `removed ${merged.removedSignature}: it signed the previous lockfile (sign this one with \`builder sign --key KEY\`)\n` : ''),
            exitCode: 0,
          };
        } finally {
          await guard.release();
        }
      }, options.json === true),
    );
}

/** --out-dir DIR (lockfile DIR/builder.lock.json), else the config's outDir and lockfile. */
async function destination(cwd: string, options: MergeOptions): Promise<{ outDir: string; lockfile: string; configPlugins?: string[] }> {
  if (options.outDir) {
    if (options.config) throw new BuilderError('BAD_OPTION', '--out-dir and -c/--config do not go together: one names where the merged lockfile goes.');
    const outDir = resolve(cwd, options.outDir);
    return { outDir, lockfile: join(outDir, 'builder.lock.json') };
  }
  const { loadConfig } = await import('../../config/load-config.js');
  const config = await loadConfig(resolve(cwd, options.config ?? 'builder.config.json'));
  return { outDir: config.outDir, lockfile: config.lockfile, configPlugins: config.plugins.map((p) => p.name) };
}
