import type { Command } from 'commander';
import { HOST_OPTION } from '../host-option.js';
import { BuilderError } from '../../errors.js';
import { fingerprintHash } from '../../env/fingerprint.js';
import type { CliIo } from '../io.js';
import type { CommandResult } from '../run-command.js';

interface EnvOptions {
  host?: string;
  image?: string;
  binary?: string;
  json?: boolean;
}

/** `builder env`: the fingerprint of this system, or of an image (read without running it). */
export function registerEnv(program: Command, io: CliIo, run: (action: () => Promise<CommandResult>, json: boolean) => Promise<void>): void {
  program
    .command('env')
    .description("print the environment fingerprint of this system, or of an image with --image")
    .option('--image <ref>', 'probe this image instead of the running system')
    .option('--binary <path>', "with --image: include this Go host executable's Go release, settings and modules (config host.binary)")
    .option(...HOST_OPTION)
    .option('--json', 'print JSON')
    .action((options: EnvOptions) =>
      run(async () => {
        let fingerprint;
        let subject = 'this system';
        if (options.binary && !options.image) {
          throw new BuilderError('BAD_USAGE', '--binary names an executable inside an image: use it with --image.', {
            fix: 'builder env --image IMAGE --binary /app/gohost',
          });
        }
        if (options.image) {
          const [{ connectEngine }, { probeHost }] = await Promise.all([import('../connect-engine.js'), import('../../building/probe-host.js')]);
          const engine = connectEngine(io, options);
          await engine.ping();
          fingerprint = (await probeHost(engine, { hostImage: options.image, hostBinary: options.binary })).fingerprint;
          subject = options.binary ? `${options.image} (${options.binary})` : options.image;
        } else {
          const { liveFingerprint } = await import('../../runtime/live-environment.js');
          fingerprint = await liveFingerprint();
        }
        const hash = fingerprintHash(fingerprint);
        const f = fingerprint;
        return {
          json: { outcome: 'ok', subject, fingerprint, fingerprintHash: hash },
          text: `${subject}: ${f.os.id} ${f.os.versionId}, ${f.arch}, ${f.libc.family} ${f.libc.version}\n${hash}\n`,
          exitCode: 0,
        };
      }, options.json === true),
    );
}
