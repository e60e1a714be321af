import { resolve } from 'node:path';
import type { Command } from 'commander';
import { HOST_OPTION } from '../host-option.js';
import { cliProgress, PROGRESS_OPTION } from '../progress.js';
import type { CliIo } from '../io.js';
import type { CommandResult } from '../run-command.js';

interface PrepareOptions {
  progress?: string;
  host?: string;
  config: string;
  pull?: boolean;
  cacheFrom?: string;
  cacheTo?: string;
  json?: boolean;
}

export function registerPrepare(program: Command, io: CliIo, run: (action: () => Promise<CommandResult>, json: boolean) => Promise<void>): void {
  program
    .command('prepare')
    .description('probe the host and get the builder image (from --cache-from, or built), push it with --cache-to; builds no plugin, writes nothing')
    .option('-c, --config <file>', 'config file', 'builder.config.json')
    .option('--pull', 'pull the host image when the engine does not have it')
    .option('--cache-from <repo>', 'take the builder image from this registry repository when the engine lacks it')
    .option('--cache-to <repo>', 'push the builder image to this registry repository under its input hash')
    .option(...HOST_OPTION)
    .option(...PROGRESS_OPTION)
    .option('--json', 'print one JSON object with an "outcome"')
    .action((options: PrepareOptions) =>
      run(async () => {
        const { parseCacheRepository } = await import('../../building/builder-cache.js');
        const { prepareBuilder } = await import('../../building/prepare-builder.js');
        const { loadConfig } = await import('../../config/load-config.js');
        const { FileProbeCache, probeCacheFile } = await import('../../env/probe-cache.js');
        const { packageRoot } = await import('../../package-root.js');
        const { connectEngine } = await import('../connect-engine.js');
        const cacheFrom = options.cacheFrom === undefined ? undefined : parseCacheRepository('--cache-from', options.cacheFrom);
        const cacheTo = options.cacheTo === undefined ? undefined : parseCacheRepository('--cache-to', options.cacheTo);
        const config = await loadConfig(resolve(io.cwd, options.config));
        const progress = cliProgress(options.progress, io);
        const prepared = await prepareBuilder(
          connectEngine(io, options),
          config,
          { pull: options.pull === true, ...(cacheFrom ? { cacheFrom } : {}), ...(cacheTo ? { cacheTo } : {}) },
          {
            recipeDir: packageRoot(),
            probeCache: new FileProbeCache(probeCacheFile(io.env)),
            report: progress.report,
          },
        ).finally(() => progress.close());
        const [first] = prepared as [(typeof prepared)[number]];
        const text = (p: (typeof prepared)[number]) =>
          `${p.platform ? `${p.platform}\n` : ''}host     ${p.host.image} (${p.host.imageId})\nbuilder  ${p.builder.image} (${p.builder.imageId}), ${p.builder.source}\n`;
        return {
          // One host: its host and builder at the top, as ever; with host.platforms, one entry per platform.
          json: { outcome: 'prepared', ...(prepared.length === 1 && !first.platform ? first : { platforms: prepared }) },
          text: prepared.map(text).join(''),
          exitCode: 0,
        };
      }, options.json === true),
    );
}
