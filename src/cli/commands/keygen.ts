import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { BuilderError } from '../../errors.js';
import { writeFileAtomic } from '../../util/write-file-atomic.js';
import type { CliIo } from '../io.js';
import type { CommandResult } from '../run-command.js';

interface KeygenOptions {
  outDir: string;
  name: string;
  force?: boolean;
  json?: boolean;
}

const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Written whole or not at all, with its final mode from the start; never over an existing key unless forced. */
async function writeNew(path: string, data: string, mode: number, force: boolean): Promise<void> {
  await writeFileAtomic(path, data, mode, { replace: force }).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
    throw new BuilderError('KEY_EXISTS', `${path} already exists.`, { fix: 'Choose another --name or --out-dir, or pass --force to replace it.' });
  });
}

export function registerKeygen(program: Command, io: CliIo, run: (action: () => Promise<CommandResult>, json: boolean) => Promise<void>): void {
  program
    .command('keygen')
    .description('make an Ed25519 key pair for signing lockfiles: NAME.key (private, 0600) and NAME.pub (give it to hosts)')
    .option('--out-dir <dir>', 'where to write the two files', '.')
    .option('--name <name>', 'file name stem', 'builder-signing')
    .option('--force', 'replace existing files')
    .option('--json', 'print one JSON object with an "outcome"')
    .action((options: KeygenOptions) =>
      run(async () => {
        const { generateSigningKeyPair } = await import('../../trust/keys.js');
        if (!KEY_NAME.test(options.name)) {
          throw new BuilderError('BAD_OPTION', `--name must be 1-64 letters, digits, ".", "-" or "_", got "${options.name}".`);
        }
        const dir = resolve(io.cwd, options.outDir);
        await mkdir(dir, { recursive: true });
        const pair = generateSigningKeyPair();
        const privatePath = join(dir, `${options.name}.key`);
        const publicPath = join(dir, `${options.name}.pub`);
        await writeNew(privatePath, pair.privatePem, 0o600, options.force === true);
        try {
          await writeNew(publicPath, pair.publicPem, 0o644, options.force === true);
        } catch (err) {
          if (!options.force) await rm(privatePath, { force: true });
          throw err;
        }
        return {
          json: { outcome: 'generated', keyId: pair.keyId, privateKey: privatePath, publicKey: publicPath },
          text:
            `key id  ${pair.keyId}\nprivate ${privatePath} (0600: keep it secret, e.g. a CI secret)\npublic  ${publicPath} (copy it into the host's trust directory)\n`,
          exitCode: 0,
        };
      }, options.json === true),
    );
}
