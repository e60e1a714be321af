import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, type ErrorCodeInfo } from '../../src/error-codes.js';
import { renderErrorsDoc } from '../../src/error-codes-doc.js';

const REPO = join(import.meta.dirname, '../..');
const catalogue = ERROR_CODES as Record<string, ErrorCodeInfo>;
const sourcesUnder = (dir: string, ext: string): string[] =>
  readdirSync(join(REPO, dir), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith(ext) && !f.endsWith(`_test${ext}`)).map((f) => readFileSync(join(REPO, dir, f), 'utf8'));

describe('the error code catalogue (src/error-codes.ts)', () => {
  it('docs/errors.md is generated from it and current (npm run docs:errors rewrites it)', () => {
    expect(readFileSync(join(REPO, 'docs/errors.md'), 'utf8')).toBe(renderErrorsDoc());
  });

  it('every entry says what it means and what to do, in sentences', () => {
    for (const [code, info] of Object.entries(catalogue)) {
      expect(code).toMatch(/^[A-Z][A-Z0-9_]+$/);
      expect(info.meaning, code).toMatch(/^\S.*[.)]$/s);
      expect(info.fix, code).toMatch(/^\S.*[.)]$/s);
      expect(info.where.length, code).toBeGreaterThan(0);
    }
  });

  it("the Go pluginhost's codes are exactly the entries marked go (its sentinels and the codes it reports)", () => {
    const go = new Set<string>();
    for (const text of sourcesUnder('go/pluginhost', '.go')) {
      for (const m of text.matchAll(/(?:code\(|Code:\s*|"code":\s*)"([A-Z][A-Z0-9_]+)"/g)) go.add(m[1]!);
    }
    expect(go.size).toBeGreaterThan(20);
    const marked = Object.entries(catalogue).filter(([, i]) => i.where.includes('go')).map(([c]) => c);
    expect([...go].sort()).toEqual(marked.sort());
  });

  it('every code the TypeScript sources write outside BuilderError (statuses, HTTP answers) is in the catalogue', () => {
    const used = new Set<string>();
    for (const text of sourcesUnder('src', '.ts')) {
      for (const m of text.matchAll(/\bcode: '([A-Z][A-Z0-9_]+)'/g)) used.add(m[1]!);
      for (const m of text.matchAll(/\bcode:\s*'([A-Z][A-Z0-9_]+)'\s*\|/g)) used.add(m[1]!);
      for (const m of text.matchAll(/'(CALLS_BUSY|CALL_TIMEOUT|PLUGIN_STUCK|BAD_CALL)'/g)) used.add(m[1]!);
    }
    expect(used.size).toBeGreaterThan(3);
    for (const code of used) expect(Object.keys(catalogue), code).toContain(code);
  });
});
