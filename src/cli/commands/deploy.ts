import { basename, resolve } from 'node:path';
import type { Command } from 'commander';
import { HOST_OPTION } from '../host-option.js';
import { BuilderError } from '../../errors.js';
import { LOCKFILE_LIMITS } from '../../limits.js';
import { UnsafeFileError, readSmallFile } from '../../util/safe-file.js';
import type { CliIo } from '../io.js';
import type { LockLocation } from '../lock-location.js';
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
        const location = await locateLock(io.cwd, options, { config: true });
        const { lockPath } = location;
        const [view] = selectPlatforms(location, options.platform, 'deploy') as [ReturnType<typeof selectPlatforms>[number]];
        const { lock } = view;
        if (lock.shard) {
          throw new BuilderError('LOCKFILE_IS_SHARD', `${lockPath} is the lockfile of shard ${lock.shard.index}/${lock.shard.count}: it holds ${Object.keys(lock.plugins).length} of the project's ${lock.shard.plugins.length} plugins.`, {
            fix: 'Merge the shards first (`builder lock merge SHARD-LOCKFILES…`), then deploy the merged lockfile.',
          });
        }
        const lockBytes = await readSmallFile(lockPath, 'The lockfile', LOCKFILE_LIMITS.maxBytes);
        const signature = await readSmallFile(signaturePathFor(lockPath), 'The lockfile signature', LOCKFILE_LIMITS.maxSignatureBytes).catch((err: unknown) => {
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
          ...(options.tag !== undefined ? { tag: options.tag } : {}),
          platform: view.platform,
          referencedImages: referencedImages(location, (await import('../../lock/lockfile.js')).platformViews),
          push: options.push === true,
          toolVersion: toolVersion(),
          report: (message) => {
            if (!options.json) io.stderr(`• ${message}\n`);
          },
        });
        const text =
          `deployed ${result.image} (${result.imageId.slice(0, 19)}) from ${result.base.name} (${result.base.digest ?? result.base.imageId})\n` +
          `  ${Object.keys(lock.plugins).length} plugin(s) in /app/plugins${view.dir ? `/${view.dir}` : ''}${view.dir ? ` (${view.platform})` : ''}, lockfile sha256 ${result.labels['io.plugin-builder.lockfile.sha256']}` +
          `; ${result.trust.signedBy.length > 0 ? `signed by ${result.trust.signedBy.map((k) => `${k.slice(0, 16)}…`).join(', ')} (the image trusts ${result.trust.keys} key(s))` : `unsigned: the image trusts no key${signature ? ', so its runtime will not check the .sig' : ''}`}; verify: ${result.verify.outcome}\n` +
          (result.pushed ? `  pushed ${result.pushed}\n` : '');
        return { json: { outcome: 'deployed', ...result, verify: { outcome: result.verify.outcome } }, text, exitCode: 0 };
      }, options.json === true),
    );
}

/** Every image the lockfile (each platform) and the config name: what a deploy tag must not move. */
function referencedImages(location: LockLocation, platformViews: typeof import('../../lock/lockfile.js').platformViews): string[] {
  const names = new Set<string>();
  for (const { lock } of platformViews(location.lock)) {
    names.add(lock.host.image);
    names.add(lock.builder.image);
    if (lock.builder.base) names.add(lock.builder.base.image);
  }
  const config = location.config;
  if (config) {
    names.add(config.hostImage);
    for (const { image } of config.hostPlatforms ?? []) names.add(image);
    if (config.builderBase) names.add(config.builderBase);
  }
  return [...names];
}
