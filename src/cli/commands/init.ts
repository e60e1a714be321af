import { lstat, mkdir } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import type { Command } from 'commander';
import { JSON_SCHEMA_FILE } from '../../config/json-schema-file.js';
import { BuilderError } from '../../errors.js';
import { packageRoot } from '../../package-root.js';
import { writeFileAtomic } from '../../util/write-file-atomic.js';
import type { CliIo } from '../io.js';
import type { CommandResult } from '../run-command.js';

interface InitOptions {
  hostImage: string;
  name: string;
  dir: string;
  json?: boolean;
}

/** `builder init --host-image IMG`: a config and a C plugin with its manifest, which builds as it stands. */
export function registerInit(program: Command, io: CliIo, run: (action: () => Promise<CommandResult>, json: boolean) => Promise<void>): void {
  program
    .command('init')
    .description('write builder.config.json for a host image and a C plugin (with its manifest) that builds as it stands; never overwrites')
    .requiredOption('--host-image <image>', 'the image your host application runs in (repo:tag or repo@sha256:…)')
    .option('--name <plugin>', 'the plugin\'s name', 'hello')
    .option('--dir <dir>', 'the project directory', '.')
    .option('--json', 'print one JSON object with an "outcome"')
    .action((options: InitOptions) =>
      run(async () => {
        const { ScaffoldError, scaffoldFiles } = await import('../../init/scaffold.js');
        const dir = resolve(io.cwd, options.dir);
        const schemaPath = relative(dir, join(packageRoot(), JSON_SCHEMA_FILE)).split(sep).join('/');
        let files: Record<string, string>;
        try {
          files = scaffoldFiles({ hostImage: options.hostImage, plugin: options.name, schemaPath });
        } catch (err) {
          if (err instanceof ScaffoldError) throw new BuilderError('BAD_OPTION', `${err.message}.`);
          throw err;
        }
        // All or nothing: every file is checked before the first is written (and each write still refuses to replace).
        for (const path of Object.keys(files)) {
          if (await lstat(join(dir, path)).then(() => true, () => false)) {
            throw new BuilderError('FILE_EXISTS', `${join(dir, path)} already exists; init writes only new files (nothing was written).`, {
              fix: 'Run it in an empty directory (--dir), or add the plugin to the existing config by hand.',
            });
          }
        }
        const written: string[] = [];
        for (const [path, text] of Object.entries(files)) {
          const full = join(dir, path);
          await mkdir(dirname(full), { recursive: true });
          // Never over an existing file: a project that has one of these keeps it.
          await writeFileAtomic(full, text, 0o644, { replace: false }).catch((err: NodeJS.ErrnoException) => {
            if (err.code !== 'EEXIST') throw err;
            throw new BuilderError('FILE_EXISTS', `${full} already exists; init writes only new files${written.length ? ` (it wrote ${written.join(', ')} before finding it)` : ' (nothing was written)'}.`, {
              fix: 'Run it in an empty directory (--dir), or add the plugin to the existing config by hand.',
            });
          });
          written.push(path);
        }
        const text = `Wrote ${written.map((f) => join(options.dir, f)).join(', ')}.\nNext: builder plan, then builder build${options.dir === '.' ? '' : ` (in ${options.dir})`}.\n`;
        return { json: { outcome: 'initialized', dir, files: written }, text, exitCode: 0 };
      }, options.json === true),
    );
}
