import { resolve } from 'node:path';
import type { Command } from 'commander';
import { HOST_OPTION } from '../host-option.js';
import type { CliIo } from '../io.js';
import type { CommandResult } from '../run-command.js';

interface PlanOptions {
  config: string;
  host?: string;
  json?: boolean;
}

/** `builder plan [NAME…]`: what `builder build` would do for each plugin, and why; builds and writes nothing. */
export function registerPlan(program: Command, io: CliIo, run: (action: () => Promise<CommandResult>, json: boolean) => Promise<void>): void {
  program
    .command('plan')
    .description('show what `builder build` would do for each plugin and why (new, inputs changed: which files, artifact changed, unchanged); builds and writes nothing')
    .argument('[names...]', 'only these plugins')
    .option('-c, --config <file>', 'config file', 'builder.config.json')
    .option(...HOST_OPTION)
    .option('--json', 'print one JSON object with an "outcome"')
    .action((names: string[], options: PlanOptions) =>
      run(async () => {
        const [{ loadConfig }, { connectEngine }, { planProject }, { FileProbeCache, probeCacheFile }, { packageRoot }, { table }] = await Promise.all([
          import('../../config/load-config.js'),
          import('../connect-engine.js'),
          import('../../building/plan-project.js'),
          import('../../env/probe-cache.js'),
          import('../../package-root.js'),
          import('../format-build.js'),
        ]);
        const config = await loadConfig(resolve(io.cwd, options.config));
        const plan = await planProject(connectEngine(io, options), config, names, { recipeDir: packageRoot(), probeCache: new FileProbeCache(probeCacheFile(io.env)) });
        const toBuild = plan.plugins.filter((p) => p.action !== 'skip').length;
        const rows = [['plugin', 'action', 'why'], ...plan.plugins.map((p) => [`${p.name}${p.platform ? ` [${p.platform}]` : ''}`, p.action, `${p.reason}: ${p.detail}`])];
        return {
          json: { outcome: toBuild === 0 ? 'up-to-date' : 'changes', lockfile: plan.lockfile, plugins: plan.plugins },
          text: `${table(rows)}\n${toBuild === 0 ? 'Nothing to build.' : `${toBuild} of ${plan.plugins.length} would be built or proven.`}\n`,
          exitCode: 0,
        };
      }, options.json === true),
    );
}
