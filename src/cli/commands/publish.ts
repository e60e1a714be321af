import { resolve } from 'node:path';
import type { Command } from 'commander';
import { BuilderError } from '../../errors.js';
import type { CliIo } from '../io.js';
import { secondsOption } from '../option-values.js';
import type { CommandResult } from '../run-command.js';

interface PublishOptions {
  lock?: string;
  dir?: string;
  config?: string;
  source?: string;
  revision?: string;
  plainHttp?: boolean;
  timeout: string;
  json?: boolean;
}

export function registerPublish(program: Command, io: CliIo, run: (action: () => Promise<CommandResult>, json: boolean) => Promise<void>): void {
  program
    .command('publish <ref>')
    .description('push the plugin set (lockfile, signature, every .so) to a registry as one OCI artifact; prints its digest')
    .option('--lock <file>', 'lockfile (default: from -c, or ./builder.lock.json)')
    .option('--dir <dir>', "directory with the .so files (default: outDir, or the lockfile's directory)")
    .option('-c, --config <file>', 'config file naming the lockfile and outDir')
    .option('--source <url>', 'org.opencontainers.image.source annotation (the repository the set was built from)')
    .option('--revision <rev>', 'org.opencontainers.image.revision annotation (the commit)')
    .option('--plain-http', 'speak plain HTTP to a registry that is not on loopback')
    .option('--timeout <seconds>', 'give up the whole publish after this', '600')
    .option('--json', 'print one JSON object with an "outcome"')
    .action((refText: string, options: PublishOptions) =>
      run(async () => {
        const { locateLock } = await import('../lock-location.js');
        const { readReference } = await import('../../runtime/registry-source.js');
        const { createRegistryClient, publishSet } = await import('../../registry/index.js');
        const { createdFromEpoch } = await import('../../oci/plugin-set.js');
        const { signaturePathFor } = await import('../../trust/lockfile-signature.js');
        const { printable } = await import('../../util/printable.js');
        const ref = readReference(refText);
        if (ref.digest) throw new BuilderError('BAD_REFERENCE', `${refText} names a digest; publish to REPO or REPO:TAG — the digest is computed from the set.`, { fix: `builder publish ${ref.registry}/${ref.repository}:TAG` });
        let created: string | undefined;
        try {
          created = createdFromEpoch(io.env.SOURCE_DATE_EPOCH);
        } catch (err) {
          throw new BuilderError('BAD_OPTION', (err as Error).message, { fix: 'Set SOURCE_DATE_EPOCH to the commit time in seconds (git log -1 --format=%ct), or unset it.' });
        }
        const location = await locateLock(io.cwd, options);
        const client = createRegistryClient(ref, { ...(options.plainHttp ? { plainHttp: true } : {}) });
        const result = await publishSet(client, {
          ref,
          pluginDir: location.localDir,
          lockPath: location.lockPath,
          signaturePath: signaturePathFor(location.lockPath),
          annotations: { ...(created ? { created } : {}), ...(options.source ? { source: options.source } : {}), ...(options.revision ? { revision: options.revision } : {}) },
          log: (level, message) => io.stderr(`${level === 'warn' ? 'WARN ' : ''}${printable(message)}\n`),
          signal: AbortSignal.timeout(secondsOption(options.timeout, '--timeout')),
        });
        const lines = [
          `Published ${resolve(location.lockPath)} (${result.signed ? 'signed' : 'UNSIGNED'})`,
          `${result.pinned}`,
          ...(result.tag ? [`tag       ${ref.registry}/${ref.repository}:${result.tag}`] : []),
          ...result.platforms.map((p) => `platform  ${p.platform} ${p.digest}`),
          `uploaded  ${result.uploaded} (${result.uploadedBytes} bytes); already there: ${result.present}`,
        ];
        return { json: { outcome: 'published', ...result }, text: lines.join('\n') + '\n', exitCode: 0 };
      }, options.json === true),
    );
}
