import { resolve } from 'node:path';
import type { Command } from 'commander';
import { buildProject } from '../../build/build-project.js';
import { loadConfig } from '../../config/load-config.js';
import { DockerodeEngine } from '../../docker/dockerode-engine.js';
import { EXIT_FAILED } from '../../errors.js';
import { packageRoot } from '../../package-root.js';
import { formatBuildEvent, formatBuildSummary } from '../format-build.js';
import type { CliIo } from '../io.js';
import { isDebug, type CommandResult } from '../run-command.js';

interface BuildOptions {
  config: string;
  check?: boolean;
  skipGoModuleCheck?: boolean;
  json?: boolean;
}

export function registerBuild(program: Command, io: CliIo, run: (action: () => Promise<CommandResult>, json: boolean) => Promise<void>): void {
  program
    .command('build')
    .description('build every plugin in a builder image matched to the host image, and write the lockfile')
    .option('-c, --config <file>', 'config file', 'builder.config.json')
    .option('--check', 'rebuild in fresh containers and verify the bytes equal the lockfile; writes nothing')
    .option('--skip-go-module-check', 'build go-plugins even if their modules differ from the host binary\'s (they will fail to load)')
    .option('--json', 'print one JSON object with an "outcome" instead of text')
    .action((options: BuildOptions) =>
      run(async () => {
        const config = await loadConfig(resolve(io.cwd, options.config));
        const debug = isDebug(io.env);
        const report = await buildProject(config, { check: options.check === true, skipGoModuleCheck: options.skipGoModuleCheck === true }, {
          engine: DockerodeEngine.fromEnv(io.env),
          recipeDir: packageRoot(),
          report: (event) => {
            if (options.json) return;
            const line = formatBuildEvent(event, debug);
            if (line !== null) io.stderr(line + '\n');
          },
        });
        const ok = report.outcome === 'built' || report.outcome === 'check-passed';
        return { json: report, text: formatBuildSummary(report), exitCode: ok ? 0 : EXIT_FAILED };
      }, options.json === true),
    );
}
