import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { JSON_SCHEMA_FILE } from '../../config/json-schema-file.js';
import { BuilderError } from '../../errors.js';
import { packageRoot } from '../../package-root.js';
import type { CommandResult } from '../run-command.js';

/** `builder schema`: the config's JSON Schema as shipped in the package (read, not generated: no zod to load). */
export function registerSchema(program: Command, run: (action: () => Promise<CommandResult>, json: boolean) => Promise<void>): void {
  program
    .command('schema')
    .description(`print the JSON Schema of builder.config.json (the package ships it as ${JSON_SCHEMA_FILE}; a config may name it in "$schema")`)
    .action(() =>
      run(async () => {
        const path = join(packageRoot(), JSON_SCHEMA_FILE);
        const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => {
          throw new BuilderError('SCHEMA_MISSING', `${path} cannot be read (${err.code ?? err.message}).`, {
            fix: 'It is made by `npm run build`; an installed package ships it. Reinstall the package, or run `npm run build` in a checkout.',
            cause: err,
          });
        });
        return { json: { outcome: 'ok' }, text, exitCode: 0 };
      }, false),
    );
}
