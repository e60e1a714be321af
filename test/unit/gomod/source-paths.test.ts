import { describe, expect, it } from 'vitest';
import { goSourceLayout } from '../../../src/building/go-source-layout.js';
import { parseGoMod } from '../../../src/gomod/parse-go-mod.js';
import type { GoHostBinary } from '../../../src/gomod/read-go-binary.js';
import { goRootOf, goSourceFiles, moduleDirIn } from '../../../src/gomod/source-paths.js';

const table = (...names: string[]) => Buffer.from(`\x7fELF junk/not.go\0${names.join('\0')}\0tail`, 'latin1');

describe('a Go binary\'s source paths', () => {
  it('reads absolute .go entries of the file table, whole entries only', () => {
    const bytes = table('/usr/lib/go-1.19/src/runtime/proc.go', '/work/app/shared/shared.go', 'example.com/x@v1.0.0/x.go', '/work/app/host/main.go', '/tmp/a.c');
    expect(goSourceFiles(bytes)).toEqual(['/usr/lib/go-1.19/src/runtime/proc.go', '/work/app/host/main.go', '/work/app/shared/shared.go']);
    expect(goRootOf(goSourceFiles(bytes))).toBe('/usr/lib/go-1.19');
    expect(goSourceFiles(table('runtime/proc.go', 'example.com/shared@v1.0.0/shared.go'))).toEqual([]);
  });

  it('finds the one directory a module was compiled from, and says when it cannot', () => {
    const files = ['/work/app/shared/shared.go', '/work/app/shared/sub/util.go', '/other/util.go', '/work/app/host/main.go'];
    expect(moduleDirIn(files, ['shared.go', 'sub/util.go', 'shared_test.go'])).toEqual({ found: '/work/app/shared' });
    expect(moduleDirIn(files, ['util.go'])).toEqual({ ambiguous: ['/other', '/work/app/shared/sub'] });
    expect(moduleDirIn(files, ['absent.go'])).toEqual({ missing: true });
    expect(moduleDirIn(files, ['shared.go', 'main.go'])).toEqual({ missing: true });
  });
});

describe('goSourceLayout: reproducing a -trimpath-less host\'s directories', () => {
  const host = (settings: Record<string, string>, sourceFiles: string[], mainFile: string | null = null, replace: string | null = '../shared'): GoHostBinary => ({
    goVersion: 'go1.19.8',
    path: 'example.com/gohost/cmd/gohost',
    main: { path: 'example.com/gohost', version: '(devel)' },
    deps: [{ path: 'example.com/shared', version: 'v1.0.0', ...(replace ? { replace: { path: replace, version: '' } } : {}) }],
    settings,
    packageHashes: {},
    sourceFiles,
    mainFile,
  });
  const goMod = parseGoMod('module example.com/hello\nrequire example.com/shared v1.0.0\nreplace example.com/shared => ../../shared\nreplace example.com/own => ./own\n');
  const files = [
    { path: 'plugins/hello/main.go', sha256: '0' },
    { path: 'shared/shared.go', sha256: '1' },
    { path: 'shared/go.mod', sha256: '2' },
  ];
  const elsewhere = ['/usr/lib/go-1.19/src/runtime/proc.go', '/work/app/shared/shared.go', '/work/app/host/main.go'];
  const layout = (h: GoHostBinary, goroot = '/usr/lib/go-1.19') => goSourceLayout(files, '/src/plugins/hello', goMod, h, '/app/gohost', goroot);

  it('moves a locally replaced module the host links to the host\'s directory; nothing for -trimpath hosts or modules already in place', () => {
    expect(layout(host({ '-trimpath': 'false' }, elsewhere))).toEqual({ moves: [{ module: 'example.com/shared', from: '/src/shared', to: '/work/app/shared' }] });
    expect(layout(host({ '-trimpath': 'true' }, elsewhere))).toEqual({ moves: [] });
    // A host that links no function of the module (only its types and constants): the file table
    // does not name it, so its directory comes from main.main's file and the host's relative replacement.
    const noFunctions = ['/usr/lib/go-1.19/src/runtime/proc.go', '/work/app/host/cmd/gohost/main.go'];
    expect(layout(host({}, noFunctions, '/work/app/host/cmd/gohost/main.go'))).toEqual({ moves: [{ module: 'example.com/shared', from: '/src/shared', to: '/work/app/shared' }] });
    expect(layout(host({}, noFunctions, '/work/app/host/cmd/gohost/main.go', '/opt/shared'))).toEqual({ moves: [{ module: 'example.com/shared', from: '/src/shared', to: '/opt/shared' }] });
    expect(layout(host({}, noFunctions, '/elsewhere/main.go'))).toEqual({ refused: expect.stringContaining('cannot be told from the binary') });
    expect(layout(host({}, ['/usr/lib/go-1.19/src/runtime/proc.go', '/src/shared/shared.go']))).toEqual({ moves: [] });
  });

  it('refuses before building what cannot be reproduced, naming why and the fix', () => {
    const goroot = layout(host({}, elsewhere), '/usr/local/go');
    expect(goroot).toEqual({ refused: expect.stringContaining('standard library at /usr/lib/go-1.19, and the builder\'s Go is at /usr/local/go') });
    expect((goroot as { refused: string }).refused).toContain('rebuild the host with -trimpath');
    expect(layout(host({}, ['/usr/lib/go-1.19/src/runtime/proc.go', '/work/app/shared/other.go']))).toEqual({ refused: expect.stringContaining('links example.com/shared (replaced with ../shared), and where it compiled it cannot be told from the binary') });
    expect(layout(host({}, ['/w/x.go'], '/w/host/cmd/gohost/main.go', null))).toEqual({ refused: expect.stringContaining('links example.com/shared from its module cache') });
    expect(layout(host({}, ['/a/shared.go', '/b/shared.go']))).toEqual({ refused: expect.stringContaining('places example.com/shared\'s files in /a and /b') });
    // The table and the main module's directory disagree: refused, not guessed.
    expect(layout(host({}, ['/a/shared.go'], '/w/host/cmd/gohost/main.go'))).toEqual({ refused: expect.stringContaining('/a and /w/shared') });
    expect(layout(host({}, ['/src/plugins/shared.go']))).toEqual({ refused: expect.stringContaining('where the builder keeps the plugin\'s own sources') });
  });
});
