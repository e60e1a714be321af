import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../package-root.js';
import { configJsonSchemaText } from './json-schema.js';
import { JSON_SCHEMA_FILE } from './json-schema-file.js';

// Run by `npm run build` after tsc: the schema ships in the package, and `builder schema` and
// editors read the file instead of loading zod.
writeFileSync(join(packageRoot(), JSON_SCHEMA_FILE), configJsonSchemaText());
