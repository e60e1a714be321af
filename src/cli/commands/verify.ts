import { join, posix, resolve } from 'node:path';
import type { Command } from 'commander';
import { HOST_OPTION } from '../host-option.js';
import type { LoaderChoice } from '../../verify/verify-plugins.js';
import { EXIT_FAILED } from '../../errors.js';
import type { CliIo } from '../io.js';
import type { CommandResult } from '../run-command.js';

/** A single-platform lockfile's report as ever; a multi-platform one's as { outcome, platforms: [{ platform, …report }] }. */
function perPlatformJson<R extends { outcome: string }>(reports: Array<{ platform: string; multi: boolean; report: R }>, outcome: string, lockfile: string): { outcome: string } & Record<string, unknown> {
  if (reports.length === 1 && !reports[0]!.multi) return { ...reports[0]!.report, lockfile };
  return { outcome, lockfile, platforms: reports.map((r) => ({ platform: r.platform, ...r.report })) };
}

type Run = (action: () => Promise<CommandResult>, json: boolean) => Promise<void>;

/** --loader-program and --loads-by-path: the program the prediction is for, and how it opens plugins. */
function loaderOptions(command: Command): Command {
  return command
    .option('--loader-program <path>', "the executable inside the image that loads the plugins (default: host.binary, else the image's Entrypoint/Cmd); with --real it is also run as `PATH FILE` to load each plugin for real (exit 0: it loaded)")
    .option('--loads-by-path', "that program dlopen()s each plugin at its deployed path, so $ORIGIN is the plugin directory (default: the host runtimes' sealed copy, /proc/self/fd/N)")
    .option('--real', "also load every plugin for real in a throwaway container of the image, by its loading program (as a build's proof does), beside the model's prediction; the real load wins");
}

const loaderChoice = (options: LoaderChoice, hostLoader?: readonly string[]): LoaderChoice => ({
  ...(options.loaderProgram ? { loaderProgram: options.loaderProgram } : {}),
  ...(options.loadsByPath ? { loadsByPath: true } : {}),
  ...(options.real ? { real: true, ...(hostLoader ? { hostLoader } : {}) } : {}),
});

interface VerifyOptions extends LoaderChoice {
  host?: string;
  platform?: string;
  image?: string;
  dir?: string;
  lock?: string;
  config?: string;
  pluginsPath: string;
  json?: boolean;
}

export function registerVerify(program: Command, io: CliIo, run: Run): void {
  loaderOptions(program.command('verify'))
    .description("check a lockfile's plugins: bytes, environment, and whether the host image's loader would load them")
    .option('--image <ref>', "host image to check against (default: the lockfile's host image)")
    .option('--dir <dir>', 'plugin files to check (default: read them out of --image, or the local build output)')
    .option('--lock <file>', 'lockfile (default: <dir>/builder.lock.json, or the one in builder.config.json)')
    .option('-c, --config <file>', 'config file used to find the lockfile and build output')
    .option('--plugins-path <path>', 'plugin directory inside the image (a platform\'s plugins are in its <os>-<arch>/ below it)', '/app/plugins')
    .option('--platform <os/arch>', 'with a multi-platform lockfile: check only this platform (default: each, against its own host image)')
    .option(...HOST_OPTION)
    .option('--json', 'print one JSON object with an "outcome"')
    .action((options: VerifyOptions) =>
      run(async () => {
        const { locateLock, selectPlatforms } = await import('../lock-location.js');
        const { connectEngine } = await import('../connect-engine.js');
        const { verifyPlugins } = await import('../../verify/verify-plugins.js');
        const { formatVerify } = await import('../format-verify.js');
        const located = await locateLock(io.cwd, options);
        // One --image is one platform's host.
        const views = selectPlatforms(located, options.platform, options.image ? 'verify --image' : undefined);
        const engine = connectEngine(io, options);
        await engine.ping();
        const reports = [];
        for (const view of views) {
          // With an explicit --image and no --dir, the plugins are the ones deployed in it.
          // --dir is the plugin directory as deployed: a platform's files are in its <os>-<arch>/ below it.
          const dir = options.dir ? join(resolve(io.cwd, options.dir), view.dir) : options.image ? undefined : view.localDir;
          const report = await verifyPlugins(engine, {
            lock: view.lock,
            image: options.image ?? view.lock.host.image,
            ...(dir ? { dir } : {}),
            pluginsPath: view.dir ? posix.join(options.pluginsPath, view.dir) : options.pluginsPath,
            ...loaderChoice(options, located.config?.hostLoader),
          });
          reports.push({ platform: view.platform, multi: view.dir !== '', report });
        }
        const outcome = reports.every((r) => r.report.outcome === 'ok') ? 'ok' : 'problems';
        return {
          json: perPlatformJson(reports, outcome, located.lockPath),
          text: reports.map((r) => (r.multi ? `== ${r.platform} ==\n` : '') + formatVerify(r.report)).join('\n'),
          exitCode: outcome === 'ok' ? 0 : EXIT_FAILED,
        };
      }, options.json === true),
    );
}

interface DriftOptions extends LoaderChoice {
  host?: string;
  platform?: string;
  image?: string;
  pull?: boolean;
  dir?: string;
  lock?: string;
  config?: string;
  json?: boolean;
}

export function registerDrift(program: Command, io: CliIo, run: Run): void {
  loaderOptions(program.command('drift'))
    .description("compare a host image's current environment with the lockfile's; list what must be rebuilt")
    .option('--image <ref>', "the host image as it is now (default: the lockfile's host image)")
    .option('--pull', 'pull the image first: compare with what its registry serves for the reference now (a moved tag is drift)')
    .option('--lock <file>', 'lockfile (default: <dir>/builder.lock.json, or the one in builder.config.json)')
    .option('--dir <dir>', 'the built plugin files, for the load prediction (default: beside the lockfile / outDir)')
    .option('-c, --config <file>', 'config file used to find the lockfile and build output')
    .option('--platform <os/arch>', 'with a multi-platform lockfile: check only this platform (default: each, against its own host image)')
    .option(...HOST_OPTION)
    .option('--json', 'print one JSON object with an "outcome"')
    .action((options: DriftOptions) =>
      run(async () => {
        const { locateLock, selectPlatforms } = await import('../lock-location.js');
        const { connectEngine } = await import('../connect-engine.js');
        const { detectDrift } = await import('../../drift/detect-drift.js');
        const { formatDrift } = await import('../format-verify.js');
        const located = await locateLock(io.cwd, options);
        const views = selectPlatforms(located, options.platform, options.image ? 'drift --image' : undefined);
        const engine = connectEngine(io, options);
        await engine.ping();
        const reports = [];
        for (const view of views) {
          const report = await detectDrift(engine, {
            lock: view.lock,
            image: options.image ?? view.lock.host.image,
            dir: view.localDir,
            pull: options.pull === true,
            onPulled: (ref, digest) => {
              if (!options.json) io.stderr(`pulled ${ref}: ${digest}\n`);
            },
            ...loaderChoice(options, located.config?.hostLoader),
          });
          reports.push({ platform: view.platform, multi: view.dir !== '', report });
        }
        // The worst platform's verdict is the run's: one breaking platform means a rebuild.
        const order = ['no-drift', 'benign', 'breaking'] as const;
        const outcome = order[Math.max(...reports.map((r) => order.indexOf(r.report.outcome)))]!;
        return {
          json: perPlatformJson(reports, outcome, located.lockPath),
          text: reports.map((r) => (r.multi ? `== ${r.platform} ==\n` : '') + formatDrift(r.report)).join('\n'),
          exitCode: outcome === 'breaking' ? EXIT_FAILED : 0,
        };
      }, options.json === true),
    );
}
