import { ERROR_CODES, type ErrorCodeInfo } from './error-codes.js';

const PLACES = { cli: 'builder', node: 'Node runtime', go: 'Go pluginhost' } as const;
const cell = (text: string) => text.replace(/\|/g, '\\|');

/** docs/errors.md, generated from the catalogue (`npm run docs:errors`); a test keeps it current. */
export function renderErrorsDoc(): string {
  const rows = Object.entries(ERROR_CODES as Record<string, ErrorCodeInfo>)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([code, info]) => `| \`${code}\` | ${cell(info.meaning)} | ${info.exit}${info.exitNote ? ` (${cell(info.exitNote)})` : ''} | ${cell(info.fix)} | ${info.where.map((w) => PLACES[w]).join(', ')} |`);
  return [
    '# Error codes',
    '',
    '<!-- Generated from src/error-codes.ts by `npm run docs:errors`; test/unit/error-codes.test.ts fails when this page is stale. -->',
    '',
    "Every refusal carries one of these codes: `error.code` in `--json` output, `code` in the host",
    "runtimes' HTTP answers and plugin statuses, and `Error.Code` in the Go `pluginhost` module (whose",
    'sentinels, `pluginhost.ErrHashMismatch` and the rest, are the codes marked *Go pluginhost*). The',
    'exit status is the CLI\'s: **1** the job ran and the answer is no, **2** the job could not run.',
    '',
    '| code | meaning | exit | fix | reported by |',
    '| --- | --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}
