import { describe, expect, it } from 'vitest';
import { goFingerprint } from '../../../src/gomod/go-fingerprint.js';
import { checkModuleCompat } from '../../../src/gomod/module-compat.js';
import { isLocalReplacement, parseGoMod } from '../../../src/gomod/parse-go-mod.js';

const GO_MOD = `module example.com/hello

go 1.19

require (
\texample.com/shared v1.0.0
\tgolang.org/x/text v0.3.0 // indirect
)

require example.com/other v2.0.0

replace example.com/shared => ../../shared
replace example.com/other v2.0.0 => example.com/fork v2.0.1
`;

describe('parseGoMod', () => {
  it('reads module, go, require (block and line) and replace', () => {
    const mod = parseGoMod(GO_MOD);
    expect(mod.module).toBe('example.com/hello');
    expect(mod.go).toBe('1.19');
    expect(mod.require).toEqual([
      { path: 'example.com/shared', version: 'v1.0.0', indirect: false },
      { path: 'golang.org/x/text', version: 'v0.3.0', indirect: true },
      { path: 'example.com/other', version: 'v2.0.0', indirect: false },
    ]);
    expect(mod.replace).toEqual([
      { from: 'example.com/shared', fromVersion: null, to: '../../shared', toVersion: null },
      { from: 'example.com/other', fromVersion: 'v2.0.0', to: 'example.com/fork', toVersion: 'v2.0.1' },
    ]);
    expect(isLocalReplacement('../../shared')).toBe(true);
    expect(isLocalReplacement('example.com/fork')).toBe(false);
  });
});

describe('checkModuleCompat', () => {
  const host = [
    { path: 'example.com/shared', version: 'v1.1.0', replace: { path: '../shared-v1.1', version: '(devel)' } },
    { path: 'example.com/other', version: 'v2.0.0' },
  ];

  it('names each module whose version or replacement differs, with the go mod edit that fixes it', () => {
    expect(checkModuleCompat(host, parseGoMod(GO_MOD))).toEqual([
      { module: 'example.com/shared', host: 'v1.1.0', plugin: 'v1.0.0', fix: 'go mod edit -require=example.com/shared@v1.1.0' },
      { module: 'example.com/other (replacement)', host: 'none', plugin: 'example.com/fork@v2.0.1', fix: 'go mod edit -dropreplace=example.com/other' },
    ]);
  });

  it('is empty when versions and replacement kinds agree', () => {
    const same = [{ path: 'example.com/shared', version: 'v1.0.0', replace: { path: '../shared', version: '(devel)' } }];
    expect(checkModuleCompat(same, parseGoMod('module m\nrequire example.com/shared v1.0.0\nreplace example.com/shared => ../x\n'))).toEqual([]);
  });

  it('builds the Go fingerprint from build info', () => {
    expect(
      goFingerprint({ goVersion: 'go1.19.8', path: 'm', main: null, deps: host, settings: { '-trimpath': 'true', CGO_ENABLED: '1', '-compiler': 'gc', GOAMD64: 'v1' } }),
    ).toEqual({
      version: 'go1.19.8',
      settings: { '-trimpath': 'true', CGO_ENABLED: '1', GOAMD64: 'v1' },
      deps: { 'example.com/shared': 'v1.1.0 => ../shared-v1.1', 'example.com/other': 'v2.0.0' },
    });
  });
});
