import { resolve } from 'node:path';
import type { Command } from 'commander';
import { HOST_OPTION } from '../host-option.js';
import { cliProgress, PROGRESS_OPTION } from '../progress.js';
import { BuilderError, EXIT_FAILED } from '../../errors.js';
import type { CliIo } from '../io.js';
import type { CommandResult } from '../run-command.js';

interface BuildOptions {
  progress?: string;
  host?: string;
  config: string;
  check?: boolean;
  skipGoModuleCheck?: boolean;
  pull?: boolean;
  cacheFrom?: string;
  cacheTo?: string;
  shard?: string;
  jobs?: string;
  cache: boolean;
  prove: boolean;
  proveTimeout?: string;
  signKey?: string;
  json?: boolean;
  wait: boolean;
  engineTimeout?: string;
  compileTimeout?: string;
}

export function registerBuild(program: Command, io: CliIo, run: (action: () => Promise<CommandResult>, json: boolean) => Promise<void>): void {
  program
    .command('build')
    .description('build every plugin (or the ones named; the others stay as locked) in a builder image matched to the host image, and write the lockfile')
    .argument('[names...]', 'build only these plugins')
    .option('-c, --config <file>', 'config file', 'builder.config.json')
    .option('--check', 'rebuild in fresh containers and verify the bytes equal the lockfile; writes nothing')
    .option('-j, --jobs <n>', 'plugins built at once (default: number of CPUs)')
    .option('--no-prove', 'do not load the new artifacts in a container of the host image before locking them (the lockfile then says they are not proven)')
    .option('--prove-timeout <seconds>', 'stop a proof whose loads take longer; the artifact being loaded fails (default 120)')
    .option('--no-cache', 'do not use the persistent compiler cache volume (it never changes the artifacts)')
    .option('--pull', 'pull the host image (host.image: repo:tag or repo@sha256:…) when the engine does not have it; prints its digest')
    .option('--cache-from <repo>', 'take the builder image from this registry repository (tagged with its input hash) when the engine lacks it, instead of installing the toolchain; fill an empty compiler cache volume from it')
    .option('--cache-to <repo>', 'push the builder image, and the compiler cache when a plugin was compiled, to this registry repository under its input hash, for --cache-from on other machines')
    .option('--shard <K/N>', "build only shard K of N (plugins by sorted name, dealt round-robin); the lockfile records it for `builder lock merge`")
    .option('--skip-go-module-check', 'build go-plugins even if their modules or packages differ from the host binary\'s (they will fail to load)')
    .option('--sign-key <file>', 'sign the lockfile with this private key (builder keygen): writes <lockfile>.sig')
    .option('--no-wait', 'fail at once when another build of this project is running, instead of waiting for it')
    .option('--engine-timeout <seconds>', 'time limit for each quick engine request (transfers get 20×); default 30')
    .option('--compile-timeout <seconds>', 'time limit for one plugin build (sources in, compile, artifact out) or builder image build; default 1800')
    .option(...HOST_OPTION)
    .option(...PROGRESS_OPTION)
    .option('--json', 'print one JSON object with an "outcome" instead of text')
    .action((names: string[], options: BuildOptions) =>
      run(async () => {
        const { parseCacheRepository } = await import('../../building/builder-cache.js');
        const { buildProject } = await import('../../building/build-project.js');
        const { parseShard } = await import('../../shard/shard.js');
        const { loadConfig } = await import('../../config/load-config.js');
        const { FileProbeCache, probeCacheFile } = await import('../../env/probe-cache.js');
        const { packageRoot } = await import('../../package-root.js');
        const { connectEngine } = await import('../connect-engine.js');
        const { formatBuildSummary } = await import('../format-build.js');
        const { lockfileSigner, readSigningKey } = await import('../signing-key-file.js');
        const jobs = options.jobs === undefined ? undefined : Number(options.jobs);
        if (jobs !== undefined && (!Number.isInteger(jobs) || jobs < 1)) {
          throw new BuilderError('BAD_OPTION', `-j/--jobs must be a positive whole number, got "${options.jobs}".`);
        }
        const proveTimeout = options.proveTimeout === undefined ? undefined : Number(options.proveTimeout);
        if (proveTimeout !== undefined && !(proveTimeout > 0 && proveTimeout <= 86_400)) {
          throw new BuilderError('BAD_OPTION', `--prove-timeout must be a number of seconds above 0, got "${options.proveTimeout}".`);
        }
        // The key is read before anything is built: a bad key fails in a second, not after the build.
        const signer = options.signKey ? lockfileSigner(await readSigningKey(resolve(io.cwd, options.signKey), (m) => io.stderr(`WARN ${m}\n`))) : undefined;
        if (signer && options.check) throw new BuilderError('BAD_OPTION', '--sign-key and --check do not go together: --check writes nothing.');
        const cacheFrom = options.cacheFrom === undefined ? undefined : parseCacheRepository('--cache-from', options.cacheFrom);
        const cacheTo = options.cacheTo === undefined ? undefined : parseCacheRepository('--cache-to', options.cacheTo);
        const shard = options.shard === undefined ? undefined : parseShard(options.shard);
        if (shard && signer) throw new BuilderError('BAD_OPTION', '--sign-key and --shard do not go together: sign the merged lockfile (`builder lock merge …`, then `builder sign`).');
        if (options.check && cacheTo) throw new BuilderError('BAD_OPTION', '--cache-to and --check do not go together: --check writes nothing.');
        const config = await loadConfig(resolve(io.cwd, options.config));
        const signal = io.interrupts?.();
        const engine = connectEngine({ ...io, interrupts: undefined }, options);
        const progress = cliProgress(options.progress, io);
        const report = await buildProject(config, {
          check: options.check === true,
          skipGoModuleCheck: options.skipGoModuleCheck === true,
          pull: options.pull === true,
          ...(cacheFrom ? { cacheFrom } : {}),
          ...(cacheTo ? { cacheTo } : {}),
          ...(shard ? { shard } : {}),
          ...(names.length > 0 ? { only: [...new Set(names)] } : {}),
          cache: options.cache,
          prove: options.prove,
          ...(proveTimeout ? { proveTimeoutMs: proveTimeout * 1000 } : {}),
          wait: options.wait,
          ...(jobs ? { jobs } : {}),
        }, {
          engine,
          ...(signal ? { signal } : {}),
          recipeDir: packageRoot(),
          probeCache: new FileProbeCache(probeCacheFile(io.env)),
          ...(signer ? { signer } : {}),
          report: progress.report,
        }).finally(() => progress.close());
        const ok = report.outcome === 'built' || report.outcome === 'check-passed';
        return { json: report, text: formatBuildSummary(report), exitCode: ok ? 0 : EXIT_FAILED };
      }, options.json === true),
    );
}
