import { resolve } from 'node:path';
import type { Command } from 'commander';
import { BuilderError, EXIT_UNUSABLE } from '../../errors.js';
import { createHostServer } from '../../runtime/host-server.js';
import { createKoffiLoader } from '../../runtime/koffi-loader.js';
import { liveFingerprint } from '../../runtime/live-environment.js';
import { PluginHost } from '../../runtime/plugin-host.js';
import type { CliIo } from '../io.js';

interface HostOptions {
  plugins: string;
  lock?: string;
  port: string;
  listen: string;
  allowEnvironmentMismatch?: boolean;
}

/** `builder host`: long-running; prints progress to stderr and serves until SIGTERM/SIGINT. */
export function registerHost(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('host')
    .description('serve the plugins of a directory over HTTP, loading only verified ones')
    .requiredOption('--plugins <dir>', 'directory with the .so files')
    .option('--lock <file>', 'lockfile (default: <plugins>/builder.lock.json)')
    .option('--port <n>', 'TCP port', '8080')
    .option('--listen <address>', 'address to listen on', '0.0.0.0')
    .option('--allow-environment-mismatch', 'EMERGENCY: load plugins even if this host differs from the locked environment')
    .action(async (options: HostOptions) => {
      const port = Number(options.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        io.stderr(`error: --port must be a port number, got "${options.port}"\n`);
        return setExit(EXIT_UNUSABLE);
      }
      const log = (level: 'info' | 'warn', message: string) => io.stderr(`${level === 'warn' ? 'WARN ' : ''}${message}\n`);
      let host: PluginHost;
      try {
        host = await PluginHost.open({
          pluginDir: resolve(io.cwd, options.plugins),
          ...(options.lock ? { lockfile: resolve(io.cwd, options.lock) } : {}),
          loader: await createKoffiLoader(),
          liveEnvironment: await liveFingerprint(),
          allowEnvironmentMismatch: options.allowEnvironmentMismatch === true,
          log,
        });
      } catch (err) {
        io.stderr(`error: ${(err as Error).message}\n${err instanceof BuilderError && err.fix ? `fix: ${err.fix}\n` : ''}`);
        return setExit(EXIT_UNUSABLE);
      }
      const server = createHostServer(host);
      await new Promise<void>((resolveListen, reject) => {
        server.once('error', reject);
        server.listen(port, options.listen, () => resolveListen());
      });
      const address = server.address();
      io.stderr(`listening on http://${options.listen}:${typeof address === 'object' && address ? address.port : port}\n`);
      await new Promise<void>((done) => {
        const stop = () => server.close(() => done());
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
      await host.close();
    });
}
