import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { BuilderError } from '../../errors.js';
import { LOCKFILE_LIMITS } from '../../limits.js';
import { openRegularFile, readSmallFile } from '../../util/safe-file.js';
import type { CliIo } from '../io.js';
import type { CommandResult } from '../run-command.js';

interface SignOptions {
  key: string;
  lock?: string;
  dir?: string;
  config?: string;
  json?: boolean;
}

/** The artifact as a host would read it: no links, no FIFOs, exactly the locked size. */
async function lockedFileSha256(path: string, size: number): Promise<string> {
  const { handle } = await openRegularFile(path, 'The artifact', { exactSize: size });
  const { hashOpenFile } = await import('../../util/hash-file.js');
  try {
    return await hashOpenFile(handle.fd, size, AbortSignal.timeout(600_000));
  } finally {
    await handle.close();
  }
}

export function registerSign(program: Command, io: CliIo, run: (action: () => Promise<CommandResult>, json: boolean) => Promise<void>): void {
  program
    .command('sign')
    .description('sign a lockfile (after checking every artifact has its locked sha256): writes <lockfile>.sig')
    .requiredOption('--key <file>', 'private key written by builder keygen')
    .option('--lock <file>', 'lockfile (default: from -c, or ./builder.lock.json)')
    .option('--dir <dir>', 'directory with the .so files (default: outDir, or the lockfile\'s directory)')
    .option('-c, --config <file>', 'config file naming the lockfile and outDir')
    .option('--json', 'print one JSON object with an "outcome"')
    .action((options: SignOptions) =>
      run(async () => {
        const { locateLock, selectPlatforms } = await import('../lock-location.js');
        const { serializeLockfile } = await import('../../lock/lockfile.js');
        const { signaturePathFor } = await import('../../trust/lockfile-signature.js');
        const { hashOpenFile } = await import('../../util/hash-file.js');
        const { writeFileAtomic } = await import('../../util/write-file-atomic.js');
        const { platformFile } = await import('../../lock/platform.js');
        const { lockfileSigner, readSigningKey } = await import('../signing-key-file.js');
        const key = await readSigningKey(resolve(io.cwd, options.key), (m) => io.stderr(`WARN ${m}\n`));
        const location = await locateLock(io.cwd, options);
        const { lockPath, lock, localDir } = location;
        // Sign only what is true: every artifact on disk (of every platform) must have the locked bytes.
        const wrong: string[] = [];
        let subjects = 1;
        for (const view of selectPlatforms(location, undefined)) {
          for (const [name, entry] of Object.entries(view.lock.plugins)) {
            subjects++;
            const file = platformFile(view.dir, entry.file);
            const actual = await lockedFileSha256(join(view.localDir, entry.file), entry.size).catch((err: Error) => `not signable: ${err.message}`);
            if (actual !== entry.sha256) wrong.push(`  - ${name} (${file}): ${actual.length === 64 ? `sha256 ${actual}, locked ${entry.sha256}` : actual}`);
          }
        }
        if (wrong.length > 0) {
          throw new BuilderError('HASH_MISMATCH', `Refusing to sign ${lockPath}: artifacts in ${localDir} do not match it:\n${wrong.join('\n')}`, {
            fix: 'Run `builder build` (or pass --dir with the artifacts of this lockfile), then sign.',
          });
        }
        // Sign the bytes on disk; they must be the canonical form so a reader sees what was signed.
        const text = (await readSmallFile(lockPath, 'The lockfile', LOCKFILE_LIMITS.maxBytes)).toString('utf8');
        if (text !== serializeLockfile(lock)) {
          throw new BuilderError('LOCKFILE_INVALID', `${lockPath} is not in canonical form (edited by hand?).`, { fix: 'Regenerate it with `builder build`, then sign.' });
        }
        const path = signaturePathFor(lockPath);
        const previous = await readSmallFile(path, 'The previous signature', LOCKFILE_LIMITS.maxSignatureBytes).then((b) => b.toString('utf8'), () => null);
        const envelope = lockfileSigner(key).sign(lock, text, previous);
        await writeFileAtomic(path, envelope);
        return {
          json: { outcome: 'signed', signature: path, lockfile: lockPath, keyId: key.keyId, subjects },
          text: `Signed ${lockPath} (${subjects} subjects: every artifact and the lockfile)\nsignature ${path}\nkey id    ${key.keyId}\n`,
          exitCode: 0,
        };
      }, options.json === true),
    );
}
