import { basename, resolve } from 'node:path';
import type { Command } from 'commander';
import { HOST_OPTION } from '../host-option.js';
import { BuilderError, EXIT_UNUSABLE } from '../../errors.js';
import { UnsafeFileError, readSmallFile } from '../../util/safe-file.js';
import type { CliIo } from '../io.js';
import type { CommandResult } from '../run-command.js';

interface DeployOptions {
  host?: string;
  platform?: string;
  lock?: string;
  dir?: string;
  config?: string;
  tag?: string;
  push?: boolean;
  trustKey?: string;
  json?: boolean;
}

const MAX_LOCKFILE_BYTES = 64 * 1024 * 1024;

export function registerDeploy(program: Command, io: CliIo, run: (action: () => Promise<CommandResult>, json: boolean) => Promise<void>): void {
  program
    .command('deploy')
    .description('make the deployable image: the locked host image plus the plugins, lockfile, signature and trust key; verified before it is tagged')
    .option('--tag <ref>', 'image reference to tag (default: <host repository>-plugins:<lockfile sha256, 12 hex>)')
    .option('--push', 'push the tagged image to its registry and print its digest')
    .option('--trust-key <file>', 'public key (.pub from builder keygen) to put in /app/trust; the signature must verify under it')
    .option('--platform <os/arch>', 'with a multi-platform lockfile: the platform whose host image and plugins to deploy (linux/amd64, linux/arm64, …)')
    .option('--lock <file>', 'lockfile (default: from -c, or ./builder.lock.json)')
    .option('--dir <dir>', 'directory with the .so files (default: outDir, or the lockfile\'s directory)')
    .option('-c, --config <file>', 'config file naming the lockfile and outDir')
    .option(...HOST_OPTION)
    .option('--json', 'print one JSON object with an "outcome"')
    .action((options: DeployOptions) =>
      run(async () => {
        const { locateLock, selectPlatforms } = await import('../lock-location.js');
        const [{ connectEngine }, { deployImage }, { parseTrustedKey }, { signaturePathFor }, { toolVersion }] = await Promise.all([
          import('../connect-engine.js'),
          import('../../deploy/deploy-image.js'),
          import('../../trust/keys.js'),
          import('../../trust/lockfile-signature.js'),
          import('../../version.js'),
        ]);
        const location = await locateLock(io.cwd, options);
        const { lockPath } = location;
        const [view] = selectPlatforms(location, options.platform, 'deploy') as [ReturnType<typeof selectPlatforms>[number]];
        const { lock } = view;
        if (lock.shard) {
          throw new BuilderError('LOCKFILE_IS_SHARD', `${lockPath} is the lockfile of shard ${lock.shard.index}/${lock.shard.count}: it holds ${Object.keys(lock.plugins).length} of the project's ${lock.shard.plugins.length} plugins.`, {
            fix: 'Merge the shards first (`builder lock merge SHARD-LOCKFILES…`), then deploy the merged lockfile.',
            exitCode: EXIT_UNUSABLE,
          });
        }
        const lockBytes = await readSmallFile(lockPath, 'The lockfile', MAX_LOCKFILE_BYTES);
        const signature = await readSmallFile(signaturePathFor(lockPath), 'The lockfile signature', 4 * 1024 * 1024).catch((err: unknown) => {
          if (err instanceof UnsafeFileError && err.code === 'FILE_MISSING') return null;
          throw err;
        });
        let trustKey = null;
        if (options.trustKey) {
          const path = resolve(io.cwd, options.trustKey);
          const pem = await readSmallFile(path, 'The trust key', 16 * 1024, { followSymlinks: true });
          trustKey = { name: basename(path).endsWith('.pub') ? basename(path) : `${basename(path)}.pub`, pem, key: parseTrustedKey(pem, path) };
        }
        const engine = connectEngine(io, options);
        await engine.ping();
        const result = await deployImage(engine, {
          lock,
          platformDir: view.dir,
          lockBytes,
          dir: view.localDir,
          signature,
          trustKey,
          ...(options.tag ? { tag: options.tag } : {}),
          push: options.push === true,
          toolVersion: toolVersion(),
          report: (message) => {
            if (!options.json) io.stderr(`• ${message}\n`);
          },
        });
        const text =
          `deployed ${result.image} (${result.imageId.slice(0, 19)}) from ${result.base.name} (${result.base.digest ?? result.base.imageId})\n` +
          `  ${Object.keys(lock.plugins).length} plugin(s) in /app/plugins${view.dir ? `/${view.dir}` : ''}${view.dir ? ` (${view.platform})` : ''}, lockfile sha256 ${result.labels['io.plugin-builder.lockfile.sha256']}` +
          `${signature ? ', signed' : ''}${trustKey ? `, trusting ${trustKey.key.keyId.slice(0, 16)}…` : ''}; verify: ${result.verify.outcome}\n` +
          (result.pushed ? `  pushed ${result.pushed}\n` : '');
        return { json: { outcome: 'deployed', ...result, verify: { outcome: result.verify.outcome } }, text, exitCode: 0 };
      }, options.json === true),
    );
}
