import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { BuilderError } from '../../errors.js';
import { HOST_OPTION } from '../host-option.js';
import type { CliIo } from '../io.js';
import { cliProgress, PROGRESS_OPTION } from '../progress.js';
import type { CommandResult } from '../run-command.js';

/** Exit codes of a rehearsal: every plugin survives (0), some needed the rebuild and got it (3), some cannot be made to load (4). */
export const REHEARSAL_EXIT = { survives: 0, rebuilt: 3, broken: 4 } as const;

interface RehearseOptions {
  image: string;
  platform?: string;
  lockOut?: string;
  config?: string;
  lock?: string;
  dir?: string;
  markdown?: boolean;
  json?: boolean;
  host?: string;
  progress?: string;
}

export function registerRehearse(program: Command, io: CliIo, run: (action: () => Promise<CommandResult>, json: boolean) => Promise<void>): void {
  program
    .command('rehearse')
    .description('try a candidate host image before the upgrade: load every locked plugin there for real, rebuild those that fail into a side lockfile, say which survive, need the rebuild, or cannot load (exit 0 / 3 / 4)')
    .requiredOption('--image <ref>', 'the candidate host image (a base-image bump, a new release)')
    .option('--platform <os/arch>', 'with a multi-platform lockfile: the platform the candidate is for')
    .option('--lock-out <file>', 'side lockfile for the plugins rebuilt for the candidate; their artifacts go beside it (default: rehearsal/builder.lock.json beside the lockfile)')
    .option('-c, --config <file>', 'config file', 'builder.config.json')
    .option('--markdown', 'print the report as markdown (for a pull request comment)')
    .option(...HOST_OPTION)
    .option(...PROGRESS_OPTION)
    .option('--json', 'print one JSON object with an "outcome" (survives, rebuilt, broken)')
    .action((options: RehearseOptions) =>
      run(async () => {
        const { locateLock, selectPlatforms } = await import('../lock-location.js');
        const { connectEngine } = await import('../connect-engine.js');
        const { rehearseHost } = await import('../../rehearse/rehearse-host.js');
        const { rehearsalMarkdown, rehearsalText } = await import('../../rehearse/rehearsal-text.js');
        const { packageRoot } = await import('../../package-root.js');
        const { FileProbeCache, probeCacheFile } = await import('../../env/probe-cache.js');
        if (options.markdown && options.json) throw new BuilderError('BAD_OPTION', '--markdown and --json do not go together: choose one format.');
        const located = await locateLock(io.cwd, { config: options.config }, { config: true });
        if (!located.config) {
          throw new BuilderError('CONFIG_MISSING', `builder rehearse needs the project's config (${options.config}): plugins that fail are rebuilt from it.`, { fix: 'Run it in the project, or pass -c FILE.' });
        }
        const [view] = selectPlatforms(located, options.platform, 'rehearse --image');
        const lockOut = options.lockOut ? resolve(io.cwd, options.lockOut) : join(dirname(located.lockPath), 'rehearsal', 'builder.lock.json');
        const engine = connectEngine(io, options);
        await engine.ping();
        const progress = cliProgress(options.progress, io);
        const report = await rehearseHost(
          engine,
          { config: located.config, lock: view!.lock, dir: view!.localDir, candidate: options.image, lockOut },
          { recipeDir: packageRoot(), probeCache: new FileProbeCache(probeCacheFile(io.env)), report: progress.report },
        ).finally(() => progress.close());
        return {
          json: { ...report },
          text: options.markdown ? rehearsalMarkdown(report) : rehearsalText(report),
          exitCode: REHEARSAL_EXIT[report.outcome],
        };
      }, options.json === true),
    );
}
