import type { Command } from 'commander';
import type { CliIo } from '../io.js';
import type { CanaryTarget } from '../../runtime/canary.js';

interface CanaryOptions {
  nonce: string;
  fd?: string;
  name?: string;
  sha256?: string;
  size?: string;
  sealing: string;
}

const SHA256 = /^[0-9a-f]{64}$/;

/**
 * `builder canary`: the runtime's canary entry. Loads plugins as `builder host` does, reports each
 * load on stdout (lines starting with the nonce) and exits without running any plugin's
 * destructors. A build's proof runs it in the host image (`PATH=SHA256…`); `builder host` runs it
 * in a child before every swap (`--fd`: the sealed copy it already hashed).
 */
export function registerCanary(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('canary')
    .description('load plugins in this process only to report whether they load (a build\'s proof, and builder host before each swap)')
    .argument('[plugins...]', 'NAME=SHA256=PATH: a plugin, the sha256 its sealed copy must have, and its file')
    .requiredOption('--nonce <hex>', 'the prefix of every report line')
    .option('--fd <n>', 'load the sealed copy inherited as this descriptor')
    .option('--name <name>', 'with --fd: the plugin name')
    .option('--sha256 <hex>', 'with --fd: the sealed copy\'s sha256')
    .option('--size <n>', 'with --fd: the sealed copy\'s size')
    .option('--sealing <how>', 'private copies: auto, memfd, file', 'auto')
    .action(async (plugins: string[], options: CanaryOptions) => {
      const usage = (message: string) => {
        io.stderr(`error: ${message}\n`);
        setExit(2);
      };
      if (!/^[0-9a-f]{16,64}$/.test(options.nonce)) return usage('--nonce must be 16 to 64 lowercase hex digits');
      const targets: CanaryTarget[] = [];
      if (options.fd !== undefined) {
        if (!/^\d+$/.test(options.fd) || !options.name || !options.sha256 || !SHA256.test(options.sha256) || !/^\d+$/.test(options.size ?? '')) {
          return usage('--fd needs --name, --sha256 (64 hex digits) and --size');
        }
        targets.push({ kind: 'sealed', path: `/proc/self/fd/${options.fd}`, name: options.name, sha256: options.sha256, size: Number(options.size) });
      }
      for (const arg of plugins) {
        const [name, sha256, path] = [arg.slice(0, arg.indexOf('=')), arg.split('=')[1] ?? '', arg.split('=').slice(2).join('=')];
        if (!name || !SHA256.test(sha256) || !path.startsWith('/')) return usage(`"${arg}" is not NAME=SHA256=PATH`);
        targets.push({ kind: 'file', name, path, sha256 });
      }
      const { createSealer } = await import('../../runtime/create-sealer.js');
      const { createKoffiLoader, exitSkippingThreadJoin } = await import('../../runtime/koffi-native.js');
      const { runCanary } = await import('../../runtime/canary.js');
      if (!['auto', 'memfd', 'file'].includes(options.sealing)) return usage('--sealing must be auto, memfd or file');
      const sealer = await createSealer(options.sealing as 'auto');
      const ok = await runCanary(targets, { nonce: options.nonce, sealer, loader: await createKoffiLoader(), write: (line) => io.stdout(line) });
      // What was loaded stays loaded: no destructor of a plugin runs, and no thread is joined.
      await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
      await exitSkippingThreadJoin(ok ? 0 : 1);
    });
}
