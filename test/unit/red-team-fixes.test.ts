import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatVerify } from '../../src/cli/format-verify.js';
import { BuilderError } from '../../src/errors.js';
import { readElf } from '../../src/elf/read-elf.js';
import { childFailure } from '../../src/runtime/child-canary.js';
import { programScope } from '../../src/verify/loading-program.js';
import { LibrarySearch } from '../../src/verify/library-search.js';
import type { VerifyReport } from '../../src/verify/verify-plugins.js';
import { patchDynamicSymbolValue } from '../helpers/bytes.js';

const work = mkdtempSync(join(tmpdir(), 'pb-redteam-fixes-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('what the red-team pass of this surface broke, now held', () => {
  it("a symbol name with a newline or ESC in a plugin's .dynstr cannot forge a line of verify's text output", () => {
    const report = {
      image: 'img', imageId: 'sha256:' + '0'.repeat(64), fingerprint: { os: { id: 'debian', versionId: '12' }, arch: 'x86_64', libc: { family: 'glibc', version: '2.36' } },
      environment: [], program: { path: '/usr/bin/node\nFORGED program', how: 'image cmd', libraries: [], unresolved: ['lib\u001b[31mx'] }, cpu: null, opens: { how: 'sealed copy', origin: '/proc/self/fd' },
      plugins: [{ name: 'p', file: 'libp.so', bytes: 'ok', loadable: false, outcome: 'fails', problems: [{ check: 'missing-symbol', message: '\nFORGED!@GLIBC_2.2.5 is not defined', fix: 'x\u001b]52;c;AAAA\u0007' }], notes: ['note\nFORGED note'] }],
    } as unknown as VerifyReport;
    const text = formatVerify(report);
    expect(text.split('\n').filter((l) => l.startsWith('FORGED'))).toEqual([]);
    expect(text).not.toContain('\u001b');
    expect(text).toContain('\\nFORGED!@GLIBC_2.2.5');
  });

  it('a defined symbol whose st_value is beyond 2^53 is still a definition (both loaders only ask whether it is 0)', () => {
    writeFileSync(join(work, 'big.c'), 'int big_value(void) { return 1; }\n');
    execFileSync('gcc', ['-shared', '-fPIC', '-nostdlib', '-o', join(work, 'libbig.so'), join(work, 'big.c')]);
    const bytes = readFileSync(join(work, 'libbig.so'));
    patchDynamicSymbolValue(bytes, 'big_value', 2n ** 60n);
    const facts = readElf(bytes);
    expect(facts.definitions.find((d) => d.symbol === 'big_value')).toMatchObject({ zeroValue: false });
  });

  it("the canary child's verdict passes only the codes its own load can give; any other code is the plugin talking", () => {
    expect(childFailure('BAD_MANIFEST: no manifest').code).toBe('BAD_MANIFEST');
    for (const forged of ['ENGINE_LOST: the engine is gone', 'ROLLBACK_REFUSED: x', 'INTERNAL: y', 'NOT_A_CODE: z']) {
      const err = childFailure(forged);
      expect(err).toBeInstanceOf(BuilderError);
      expect(err.code, forged).toBe('LOAD_FAILED');
    }
  });

  it("koffi's addon in a hostile image: a deep script path is walked a bounded number of levels; too large or not ELF is a note, not a failure", async () => {
    const reads: string[] = [];
    const node = readFileSync(process.execPath);
    const deep = '/' + Array.from({ length: 3000 }, () => 'a').join('/') + '/x.js';
    const files = (addon: 'missing' | 'huge' | 'garbage') => ({
      readFile: async (path: string) => {
        reads.push(path);
        if (path === '/usr/bin/node') return node;
        if (path.endsWith('koffi.node') && path.startsWith('/srv/')) {
          if (addon === 'huge') throw new BuilderError('FILE_TOO_LARGE', `${path} in the image: too large`);
          if (addon === 'garbage') return Buffer.from('not an ELF file at all');
        }
        return null;
      },
    });
    const search = (f: ReturnType<typeof files>) => new LibrarySearch(f, { family: 'glibc', arch: 'x86_64', multiarch: 'x86_64-linux-gnu', ldLibraryPath: null, program: null, want: { class: 64, machine: 'x86_64' } });
    const deepFiles = files('missing');
    const scope = await programScope(deepFiles, search(deepFiles), { path: '/usr/bin/node', how: 'image cmd', script: deep });
    expect(scope?.dlopenedFirst).toEqual([]);
    expect(reads.filter((p) => p.endsWith('koffi.node')).length).toBeLessThanOrEqual(64);
    for (const addon of ['huge', 'garbage'] as const) {
      const f = files(addon);
      const s = await programScope(f, search(f), { path: '/usr/bin/node', how: 'image cmd', script: '/srv/dist/main.js' });
      expect(s?.dlopenedFirst).toEqual([]);
      expect(s?.notes.join(' '), addon).toMatch(/koffi's static TLS is not counted/);
    }
  });
});
