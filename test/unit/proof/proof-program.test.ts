import { describe, expect, it } from 'vitest';
import { needsProof } from '../../../src/building/prove-artifacts.js';
import { chooseProofProgram, describeProofProgram, nodeRuntimeArgv, PLUGINHOST_MODULE } from '../../../src/proof/proof-program.js';

const ID = `sha256:${'1'.repeat(64)}`;
const OTHER = `sha256:${'2'.repeat(64)}`;

describe('which program proves a build, and when a locked proof is enough', () => {
  it('host.loader first, then a Go host, then the Node runtime the image runs, else the load-prober', () => {
    const node = { entrypoint: [], cmd: ['node', '/app/dist/builder.js', 'host', '--plugins', '/app/plugins'] };
    expect(chooseProofProgram({ ...node, loader: ['/app/check'] })).toEqual({ kind: 'command', argv: ['/app/check'] });
    expect(chooseProofProgram(node)).toEqual({ kind: 'node-runtime', argv: ['node', '/app/dist/builder.js'] });
    expect(chooseProofProgram({ entrypoint: ['tini', '--'], cmd: ['node', 'builder.mjs', 'host'] })).toEqual({ kind: 'node-runtime', argv: ['tini', '--', 'node', 'builder.mjs'] });
    expect(chooseProofProgram({ entrypoint: [], cmd: ['/usr/local/bin/dlopen-check'] })).toEqual({ kind: 'load-prober' });
    // "host" as an argument of something else is not the runtime.
    expect(nodeRuntimeArgv(['node', '/srv/app.js', 'host'])).toBeNull();
  });

  it('a Go host runs its own binary as the image starts it, or alone; one without pluginhost gets a Go prober', () => {
    const deps = [{ path: PLUGINHOST_MODULE }];
    expect(chooseProofProgram({ hostBinary: '/app/gohost', goDeps: deps, entrypoint: ['/app/gohost'], cmd: ['-trust-dir', '/app/trust'] })).toEqual({ kind: 'go-pluginhost', argv: ['/app/gohost', '-trust-dir', '/app/trust'], binary: '/app/gohost' });
    expect(chooseProofProgram({ hostBinary: '/app/gohost', goDeps: deps, entrypoint: ['/bin/sh', '-c'], cmd: ['run'] })).toEqual({ kind: 'go-pluginhost', argv: ['/app/gohost'], binary: '/app/gohost' });
    // Without pluginhost there is no canary entry: a Go prober built with the host's Go and settings; host.loader still comes first.
    expect(chooseProofProgram({ hostBinary: '/app/other', goDeps: [{ path: 'example.com/x' }], entrypoint: [], cmd: [] })).toEqual({ kind: 'go-prober', binary: '/app/other' });
    expect(chooseProofProgram({ hostBinary: '/app/other', goDeps: [], loader: ['/app/check'], entrypoint: [], cmd: [] }).kind).toBe('command');
    expect(describeProofProgram({ kind: 'load-prober' })).toBe('load-prober: dlopen(FILE, RTLD_NOW | RTLD_LOCAL)');
  });

  it('a locked proof counts only when it says loaded on this very host image ID (a lockfile is trusted for what to skip, nothing more)', () => {
    expect(needsProof(undefined, ID)).toBe(true);
    expect(needsProof({ result: 'not-proven', reason: 'built with --no-prove' }, ID)).toBe(true);
    expect(needsProof({ result: 'loaded', imageId: OTHER, program: 'x' }, ID)).toBe(true);
    expect(needsProof({ result: 'loaded', imageId: ID, program: 'x' }, ID)).toBe(false);
  });
});
