import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { goFingerprint, PLUGIN_RELEVANT_SETTINGS } from '../../../src/gomod/go-fingerprint.js';
import { REPO } from '../../helpers/project.js';

describe('the Go part of a host fingerprint', () => {
  it('the builder and go/pluginhost keep the same settings (a host compares its live fingerprint with what the builder locked)', () => {
    const go = readFileSync(join(REPO, 'go/pluginhost/fingerprint.go'), 'utf8');
    const list = /var pluginRelevantSettings = \[\]string\{([^}]*)\}/.exec(go)?.[1];
    expect(list, 'pluginRelevantSettings in fingerprint.go').toBeDefined();
    expect([...list!.matchAll(/"([^"]+)"/g)].map((m) => m[1])).toEqual([...PLUGIN_RELEVANT_SETTINGS]);
  });

  it('keeps the settings that change package hashes (-race, -gcflags, …) and drops the rest (-ldflags, -buildmode, -compiler)', () => {
    const fingerprint = goFingerprint({
      goVersion: 'go1.19.8',
      path: 'example.com/host',
      main: null,
      deps: [],
      settings: { '-race': 'true', '-gcflags': 'all=-N -l', '-ldflags': '-s', '-buildmode': 'exe', '-compiler': 'gc', CGO_ENABLED: '1', GOEXPERIMENT: 'loopvar' },
    });
    expect(fingerprint.settings).toEqual({ '-race': 'true', '-gcflags': 'all=-N -l', CGO_ENABLED: '1', GOEXPERIMENT: 'loopvar' });
  });
});

describe('host settings a plugin build cannot reproduce', () => {
  it('a host compiled by gccgo is refused naming the setting; gc (recorded as -compiler=gc) is fine', async () => {
    const { refuseUnreproducibleSettings } = await import('../../../src/building/go-facts.js');
    const host = (compiler: string) => ({ image: 'h', imageId: 'sha256:1', binary: '/app/host', fingerprint: {} as never, goBuildInfo: { goVersion: 'go1.19.8', path: null, main: null, deps: [], settings: { '-compiler': compiler }, packageHashes: {}, sourceFiles: [], mainFile: null } });
    expect(() => refuseUnreproducibleSettings(host('gccgo'))).toThrow(/-compiler=gccgo/);
    expect(() => refuseUnreproducibleSettings(host('gc'))).not.toThrow();
  });
});
