import { join, resolve } from 'node:path';
import { packageRoot } from '../../package-root.js';
import { DEFAULT_STORE_BYTES, LOCKFILE_LIMITS } from '../../limits.js';
import { printable, printableMessage } from '../../util/printable.js';
import type { Command } from 'commander';
import { isLoopback, listen, shutdownGracefully } from '../../runtime/host-service.js';
import type { PluginHost } from '../../runtime/plugin-host.js';
import type { SealingChoice } from '../../runtime/create-sealer.js';
import { BuilderError, describeCause, EXIT_UNUSABLE } from '../../errors.js';
import { readSmallFile } from '../../util/safe-file.js';
import { defaultStore } from './pull.js';
import { collectValues, positiveNumber, secondsOption } from '../option-values.js';
import type { CliIo } from '../io.js';

interface HostOptions {
  plugins?: string;
  from?: string;
  store?: string;
  storeMaxBytes: string;
  allowTag?: boolean;
  allowRepository: string[];
  plainHttp?: boolean;
  pullTimeout: string;
  registryTimeout: string;
  lock?: string;
  signature?: string;
  port: string;
  listen: string;
  trustKey: string[];
  trustDir: string[];
  requireSignature?: boolean;
  tokenFile?: string;
  insecureNoAuth?: boolean;
  allowEnvironmentMismatch?: boolean;
  sealing: string;
  maxLockfileBytes: string;
  maxPlugins: string;
  reloadTimeout: string;
  requestTimeout: string;
  callTimeout: string;
  minSerial?: string;
  canary: boolean;
}

function serialOption(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new OptionError(`--min-serial must be a non-negative integer, got "${value}"`);
  return n;
}

const SHUTDOWN_GRACE_MS = 1500;


/** This CLI as a script node can run (the canary child is `node <it> canary …`): the package's bundle, not whatever started this process. */
function cliScript(): string {
  return join(packageRoot(), 'dist', 'builder.js');
}
const MIN_TOKEN_LENGTH = 16;

class OptionError extends BuilderError {
  constructor(message: string, fix?: string) {
    super('BAD_OPTION', message, { ...(fix ? { fix } : {}) });
  }
}

/** The bearer token: --token-file or BUILDER_HOST_TOKEN; required off loopback unless waived. */
async function resolveToken(options: HostOptions, io: CliIo, warn: (m: string) => void): Promise<string | undefined> {
  const fromEnv = io.env.BUILDER_HOST_TOKEN;
  if (options.tokenFile && fromEnv !== undefined) throw new OptionError('Both --token-file and BUILDER_HOST_TOKEN are set; give the token one way.');
  let token: string | undefined;
  if (options.tokenFile) token = (await readSmallFile(resolve(io.cwd, options.tokenFile), 'The token file', 4096, { followSymlinks: true })).toString('utf8').replace(/\r?\n$/, '');
  else if (fromEnv !== undefined) token = fromEnv;
  // One rule with go/pluginhost's CheckToken: printable ASCII only (no space of any kind), 16 or more.
  if (token !== undefined && !new RegExp(`^[\\x21-\\x7e]{${MIN_TOKEN_LENGTH},}$`).test(token)) {
    throw new OptionError(`The host token must be at least ${MIN_TOKEN_LENGTH} characters of printable ASCII (no spaces).`, 'Make one with: head -c 32 /dev/urandom | base64');
  }
  if (token === undefined && !isLoopback(options.listen)) {
    if (!options.insecureNoAuth) {
      throw new OptionError(
        `Listening on ${options.listen} (not loopback) needs a bearer token for reload and calls.`,
        'Set BUILDER_HOST_TOKEN or --token-file FILE; or --listen 127.0.0.1; or, knowingly, --insecure-no-auth.',
      );
    }
    warn(`INSECURE: --insecure-no-auth: anyone who reaches ${options.listen}:${options.port} can reload and call every plugin`);
  }
  return token;
}

/** `builder host`: long-running; prints progress to stderr and serves until SIGTERM/SIGINT. */
export function registerHost(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('host')
    .description('serve the plugins of a directory over HTTP, loading only verified ones')
    .option('--plugins <dir>', 'directory with the .so files (or --from)')
    .option('--from <ref>', 'pull the plugin set REGISTRY/REPO@sha256:… (what `builder publish` printed) into --store and serve it')
    .option('--store <dir>', 'with --from: the local content-addressed store of pulled sets (default: $XDG_CACHE_HOME/plugin-builder/store)')
    .option('--store-max-bytes <n>', 'with --from: collect the least recently used sets above this size', String(DEFAULT_STORE_BYTES))
    .option('--allow-tag', 'with --from: accept a tag, resolved once to a digest (logged)')
    .option('--allow-repository <registry/repo>', 'with --from: a repository a reload by reference may also pull from (repeatable)', collectValues, [])
    .option('--plain-http', 'with --from: speak plain HTTP to a registry that is not on loopback')
    .option('--pull-timeout <seconds>', 'with --from: give up the first pull (retried with backoff while the registry is unreachable) after this', '300')
    .option('--registry-timeout <seconds>', 'with --from: a registry connection silent this long fails', '30')
    .option('--lock <file>', 'lockfile (default: <plugins>/builder.lock.json)')
    .option('--signature <file>', 'lockfile signature (default: <lockfile>.sig)')
    .option('--port <n>', 'TCP port', '8080')
    .option('--listen <address>', 'address to listen on (not loopback: a token is required)', '127.0.0.1')
    .option('--trust-key <pub>', 'trust this public key (repeatable: key rotation); lockfiles must then be signed', collectValues, [])
    .option('--trust-dir <dir>', 'trust every *.pub in this directory (repeatable)', collectValues, [])
    .option('--require-signature', 'refuse to start without at least one trusted key')
    .option('--token-file <file>', 'bearer token for every route but /healthz (or env BUILDER_HOST_TOKEN)')
    .option('--insecure-no-auth', 'DANGEROUS: serve a non-loopback address without a token')
    .option('--allow-environment-mismatch', 'EMERGENCY: load plugins even if this host differs from the locked environment')
    .option('--sealing <how>', 'private copies: auto (memfd, else files), memfd, file', 'auto')
    .option('--max-lockfile-bytes <n>', 'refuse larger lockfiles', String(LOCKFILE_LIMITS.maxBytes))
    .option('--max-plugins <n>', 'refuse lockfiles listing more plugins', String(LOCKFILE_LIMITS.maxPlugins))
    .option('--reload-timeout <seconds>', 'abandon a reload that takes longer', '60')
    .option('--request-timeout <seconds>', 'drop a request not received whole in this time', '30')
    .option('--min-serial <n>', 'with trusted keys: refuse signed lockfiles whose serial (signing time, ms) is lower: a rollback floor (default: $BUILDER_HOST_MIN_SERIAL, which builder deploy sets to the deployed signature\'s serial, else 0)')
    .option('--no-canary', 'load new versions in this process directly, without loading each first in a throwaway child process (a crash in a load then takes the service down)')
    .option('--call-timeout <seconds>', 'a plugin call still running after this answers 504 CALL_TIMEOUT, and its plugin gets no further call', '30')
    .action(async (options: HostOptions) => {
      const { createSealer } = await import('../../runtime/create-sealer.js');
      const { createHostServer } = await import('../../runtime/host-server.js');
      const { createKoffiLoader } = await import('../../runtime/koffi-native.js');
      const { liveFingerprint } = await import('../../runtime/live-environment.js');
      const { PluginHost } = await import('../../runtime/plugin-host.js');
      const { childProcessCanary } = await import('../../runtime/child-canary.js');
      const { loadTrustedKeys } = await import('../../runtime/trust-store.js');
      // One line per event, whatever the message holds: a lockfile's, a plugin's or a request's text cannot forge a line.
      const log = (level: 'info' | 'warn', message: string) => io.stderr(`${level === 'warn' ? 'WARN ' : ''}${printable(message)}\n`);
      let host: PluginHost | undefined;
      let registry: import('../../runtime/registry-source.js').RegistrySource | undefined;
      let failed = false;
      try {
        const port = Number(options.port);
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw new OptionError(`--port must be a port number, got "${options.port}"`);
        if (!['auto', 'memfd', 'file'].includes(options.sealing)) throw new OptionError(`--sealing must be auto, memfd or file, got "${options.sealing}"`);
        const limits = {
          maxLockfileBytes: positiveNumber(options.maxLockfileBytes, '--max-lockfile-bytes'),
          maxPlugins: positiveNumber(options.maxPlugins, '--max-plugins'),
          reloadTimeoutMs: secondsOption(options.reloadTimeout, '--reload-timeout', 86_400),
          callTimeoutMs: secondsOption(options.callTimeout, '--call-timeout', 86_400),
        };
        const requestTimeoutMs = secondsOption(options.requestTimeout, '--request-timeout', 3600);
        const token = await resolveToken(options, io, (m) => log('warn', m));
        const trustedKeys = await loadTrustedKeys(options.trustKey.map((k) => resolve(io.cwd, k)), options.trustDir.map((d) => resolve(io.cwd, d)));
        if (options.requireSignature && trustedKeys.length === 0) {
          throw new OptionError('--require-signature: no trusted key was found.', 'Pass --trust-key PUB or a --trust-dir holding *.pub files.');
        }
        for (const key of trustedKeys) log('info', `trusting key ${key.keyId} (${key.source})`);
        if ((options.plugins === undefined) === (options.from === undefined)) throw new OptionError('Give exactly one of --plugins DIR and --from REF.');
        if (options.from !== undefined && (options.lock || options.signature)) throw new OptionError('--lock and --signature go with --plugins; a set pulled by --from carries its own.');
        const liveEnvironment = await liveFingerprint();
        let initial: { dir: string; lockPath?: string; signaturePath?: string; ref?: string; key?: string } = { dir: resolve(io.cwd, options.plugins ?? '.') };
        if (options.from !== undefined) {
          const { RegistrySource, readReference } = await import('../../runtime/registry-source.js');
          const { platformOfMachine } = await import('../../lock/platform.js');
          registry = await RegistrySource.open({
            storeDir: resolve(io.cwd, options.store ?? defaultStore(io.env)),
            storeMaxBytes: positiveNumber(options.storeMaxBytes, '--store-max-bytes'),
            platform: platformOfMachine(liveEnvironment.arch) ?? `linux/${liveEnvironment.arch}`,
            trustedKeys,
            allowTag: options.allowTag === true,
            allowRepositories: options.allowRepository.map((r) => {
              const ref = readReference(r);
              return `${ref.registry}/${ref.repository}`;
            }),
            plainHttp: options.plainHttp === true,
            idleTimeoutMs: secondsOption(options.registryTimeout, '--registry-timeout', 3600),
            log,
          });
          initial = await registry.initial(options.from, secondsOption(options.pullTimeout, '--pull-timeout', 86_400));
        }
        const sealer = await createSealer(options.sealing as SealingChoice);
        const lockfile = initial.lockPath ?? (options.lock ? resolve(io.cwd, options.lock) : undefined);
        const signature = initial.signaturePath ?? (options.signature ? resolve(io.cwd, options.signature) : undefined);
        host = await PluginHost.open({
          pluginDir: initial.dir,
          ...(initial.ref ? { ref: initial.ref } : {}),
          ...(lockfile ? { lockfile } : {}),
          ...(signature ? { signature } : {}),
          loader: await createKoffiLoader(),
          sealer,
          ...(options.canary ? { canary: childProcessCanary([process.execPath, ...process.execArgv, cliScript()], Math.max(1000, Math.floor(limits.reloadTimeoutMs / 2))) } : {}),
          liveEnvironment,
          trustedKeys,
          minSerial: serialOption(options.minSerial ?? io.env.BUILDER_HOST_MIN_SERIAL ?? '0'),
          allowEnvironmentMismatch: options.allowEnvironmentMismatch === true,
          limits,
          log,
        });
        if (registry && initial.key) {
          if (host.report().lockfile.status === 'accepted') await registry.markServing(host.servingSource);
          registry.release({ key: initial.key });
        }
        const serving = host;
        const source = registry;
        const reloadByRef = source
          ? async (ref: string) => {
              const pulled = await source.pullForReload(ref, AbortSignal.timeout(limits.reloadTimeoutMs));
              try {
                const report = await serving.reloadFrom(pulled);
                await source.markServing(serving.servingSource);
                return report;
              } finally {
                source.release(pulled);
              }
            }
          : undefined;
        const server = createHostServer(host, { ...(token !== undefined ? { token } : {}), requestTimeoutMs, log, ...(reloadByRef ? { reloadByRef } : {}) });
        const bound = await listen(server, port, options.listen);
        const report = host.report();
        io.stderr(
          `listening on http://${options.listen.includes(':') ? `[${options.listen}]` : options.listen}:${bound} ` +
            `(trust: ${report.trust}, auth: ${token ? 'bearer token' : 'none'}, copies: ${sealer.kind}, lockfile: ${report.lockfile.status})\n`,
        );
        await new Promise<void>((done) => {
          const stop = (signal: string) => {
            log('info', `${signal}: shutting down (at most ${SHUTDOWN_GRACE_MS} ms for requests in flight)`);
            void shutdownGracefully(server, SHUTDOWN_GRACE_MS).then(done);
          };
          process.once('SIGTERM', () => stop('SIGTERM'));
          process.once('SIGINT', () => stop('SIGINT'));
        });
      } catch (err) {
        if (err instanceof BuilderError) io.stderr(`error: ${printableMessage(err.message)}\n${err.fix ? `fix: ${printableMessage(err.fix)}\n` : ''}`);
        else io.stderr(`error: ${printable(describeCause(err))}\n`);
        setExit(EXIT_UNUSABLE);
        failed = true;
      } finally {
        // A failed start removes what it made (a file sealer's directory); so does a stop.
        await host?.close();
        await registry?.close();
      }
      // A call still running on a worker thread (stuck, or not yet at its limit) is never joined:
      // at exit libuv would wait for it forever, so the process ends through _exit instead.
      const running = host?.callsInFlight() ?? 0;
      if (running > 0) {
        log('warn', `exiting without waiting for ${running} plugin call(s) still running${host!.stuckCalls().length ? ` (stuck: ${host!.stuckCalls().join(', ')})` : ''}`);
        await new Promise<void>((resolve) => process.stderr.write('', () => resolve()));
        await (await import('../../runtime/koffi-native.js')).exitSkippingThreadJoin(failed ? EXIT_UNUSABLE : 0);
      }
    });
}
