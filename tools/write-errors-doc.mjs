// Writes docs/errors.md from the compiled catalogue (run after `tsc`: npm run docs:errors).
import { writeFileSync } from 'node:fs';
import { renderErrorsDoc } from '../dist/error-codes-doc.js';

writeFileSync(new URL('../docs/errors.md', import.meta.url), renderErrorsDoc());
