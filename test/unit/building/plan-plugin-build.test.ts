import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PluginConfig } from '../../../src/config/config.js';
import { planPluginBuild, type PlanSources, goHostFlags } from '../../../src/building/plan-plugin-build.js';
import { cCompiler, packageManagerFor, toolchainPackages } from '../../../src/building/toolchain.js';
import { parseToolchainOutput } from '../../../src/building/read-toolchain.js';
import { goPluginPath } from '../../../src/building/go-facts.js';
import { BuilderError } from '../../../src/errors.js';

const plugin = (kind: PluginConfig['kind'], extra: Partial<PluginConfig> = {}): PluginConfig => ({
  name: 'p', kind, dir: '/project/plugins/p', path: 'plugins/p', cflags: [], cxxflags: [], staticLibstdcxx: false, libs: [], exclude: [], ...extra,
});
const sources = (files: string[], hasGoMod = false): PlanSources => ({
  files: files.map((path, i) => ({ path, sha256: String(i).repeat(64) })),
  workdir: '/src/plugins/p',
  hasGoMod,
});
const settings = { builderImageId: 'sha256:builder', sourceDateEpoch: 0 };

describe('planPluginBuild', () => {
  it('C++: .cc/.cpp/.cxx with g++ and cxxflags, .c with gcc and cflags, linked by g++; static libstdc++ on request', () => {
    const plan = planPluginBuild(
      plugin('cpp', { cxxflags: ['-std=c++17'], cflags: ['-DC=1'], libs: ['-lz'], staticLibstdcxx: true }),
      sources(['plugins/p/a.cc', 'plugins/p/b.cpp', 'plugins/p/c.cxx', 'plugins/p/d.c', 'plugins/p/e.h']),
      { ...settings, cache: true },
    );
    const lines = (plan.cmd[2] as string).split('\n');
    expect(lines.filter((l) => l.startsWith('ccache g++ -c')).map((l) => l.split(' ').pop())).toEqual(['a.cc', 'b.cpp', 'c.cxx']);
    expect(lines.find((l) => l.startsWith('ccache gcc -c'))).toContain('-DC=1');
    expect(lines.find((l) => l.startsWith('ccache g++ -c'))).toContain('-std=c++17');
    expect(lines.at(-1)).toBe('g++ -shared -std=c++17 -static-libstdc++ -static-libgcc -o /out/libp.so /tmp/obj/0.o /tmp/obj/1.o /tmp/obj/2.o /tmp/obj/3.o -lz');
    expect(plan.env).toContain('CCACHE_DIR=/cache/ccache');
    const dynamic = planPluginBuild(plugin('cpp'), sources(['plugins/p/a.cc']), settings);
    expect(dynamic.inputsHash).not.toBe(planPluginBuild(plugin('cpp', { staticLibstdcxx: true }), sources(['plugins/p/a.cc']), settings).inputsHash);
    expect(() => planPluginBuild(plugin('cpp'), sources(['plugins/p/a.c']), settings)).toThrow(/has no \.cc, \.cpp or \.cxx files/);
    expect(toolchainPackages('apt', ['cpp'], [])).toEqual(['ccache', 'g++', 'libc6-dev']);
    expect(toolchainPackages('apk', ['cpp'], [])).toEqual(['ccache', 'g++', 'musl-dev']);
  });

  it('C: each file compiled with fixed paths, then linked; ccache only with the cache', () => {
    const plan = planPluginBuild(plugin('c', { cflags: ['-DX=1', "-DQ='a b'"], libs: ['-lz'] }), sources(['plugins/p/a.c', 'plugins/p/b.c', 'plugins/p/h.h']), settings);
    expect(plan.file).toBe('libp.so');
    expect(plan.workdir).toBe('/src/plugins/p');
    expect(plan.cmd.slice(0, 2)).toEqual(['sh', '-c']);
    const quoted = `'-DQ='\\''a b'\\'''`;
    expect(plan.cmd[2]?.split('\n')).toEqual([
      'set -e',
      'mkdir -p /out /tmp/obj',
      `gcc -c -fPIC -O2 -ffile-prefix-map=/src=. -fdiagnostics-color=never -DX=1 ${quoted} -o /tmp/obj/0.o a.c`,
      `gcc -c -fPIC -O2 -ffile-prefix-map=/src=. -fdiagnostics-color=never -DX=1 ${quoted} -o /tmp/obj/1.o b.c`,
      `gcc -shared -DX=1 ${quoted} -o /out/libp.so /tmp/obj/0.o /tmp/obj/1.o -lz`,
    ]);
    expect(plan.env).toContain('SOURCE_DATE_EPOCH=0');
    expect(plan.usesCache).toBe(false);
    const cached = planPluginBuild(plugin('c'), sources(['plugins/p/a.c']), { ...settings, cache: true, cCompiler: 'musl-gcc' });
    expect(cached.cmd[2]).toContain('ccache musl-gcc -c');
    expect(cached.cmd[2]).toContain('\nmusl-gcc -shared');
    expect(cached.env).toContain('CCACHE_DIR=/cache/ccache');
    expect(cached.usesCache).toBe(true);
  });

  it('the cache never changes the inputs hash', () => {
    const files = sources(['plugins/p/a.c']);
    expect(planPluginBuild(plugin('c'), files, { ...settings, cache: true }).inputsHash).toBe(planPluginBuild(plugin('c'), files, settings).inputsHash);
    const go = sources(['plugins/p/go.mod'], true);
    const cachedGo = planPluginBuild(plugin('go-c-shared'), go, { ...settings, cache: true });
    expect(cachedGo.env).toContain('GOCACHE=/cache/go');
    expect(cachedGo.inputsHash).toBe(planPluginBuild(plugin('go-c-shared'), go, settings).inputsHash);
  });

  it('Go c-shared and Go plugin: reproducible flags, offline env, host settings for plugins', () => {
    const shared = planPluginBuild(plugin('go-c-shared'), sources(['plugins/p/go.mod', 'plugins/p/main.go'], true), settings);
    expect(shared.cmd[2]).toContain('go build -trimpath -buildvcs=false -buildmode=c-shared -ldflags=-buildid= -o /out/libp.so .');
    expect(shared.env).toEqual(expect.arrayContaining(['GOPROXY=off', 'GOTOOLCHAIN=local', 'CGO_ENABLED=1']));
    const goPlugin = planPluginBuild(plugin('go-plugin'), sources(['plugins/p/go.mod'], true), {
      ...settings,
      goHostSettings: { '-trimpath': 'true', '-tags': 'netgo', GOAMD64: 'v3', CGO_ENABLED: '1' },
    });
    expect(goPlugin.cmd[2]).toContain('go-plugin-build -trimpath -buildvcs=false -buildmode=plugin');
    expect(goPlugin.env).toContain('GOAMD64=v3');
    const noTrim = planPluginBuild(plugin('go-plugin'), sources(['plugins/p/go.mod'], true), { ...settings, goHostSettings: {} });
    expect(noTrim.cmd[2]).not.toContain('-trimpath');
  });

  it('go-plugin: every recorded host setting that changes package hashes is reproduced (-race, -gcflags, experiments), and is part of the inputs', () => {
    const go = sources(['plugins/p/go.mod'], true);
    const plain = planPluginBuild(plugin('go-plugin'), go, { ...settings, goHostSettings: { '-trimpath': 'true' } });
    const race = planPluginBuild(plugin('go-plugin'), go, { ...settings, goHostSettings: { '-trimpath': 'true', '-race': 'true' } });
    const debug = planPluginBuild(plugin('go-plugin'), go, { ...settings, goHostSettings: { '-trimpath': 'true', '-gcflags': 'all=-N -l', GOEXPERIMENT: 'loopvar' } });
    expect(race.cmd[2]).toContain('go-plugin-build -trimpath -race -buildvcs=false');
    // One argument with its space: the shell script quotes it.
    expect(debug.cmd[2]).toContain("go-plugin-build -trimpath '-gcflags=all=-N -l' -buildvcs=false");
    expect(debug.env).toContain('GOEXPERIMENT=loopvar');
    expect(new Set([plain.inputsHash, race.inputsHash, debug.inputsHash]).size).toBe(3);
    expect(goHostFlags({ '-race': 'false', '-msan': 'true', '-asmflags': 'all=-x' })).toEqual(['-msan', '-asmflags=all=-x']);
  });

  it('go-plugin: --skip-go-module-check is part of the inputs, so a later plain build does not keep the unchecked artifact', () => {
    const go = sources(['plugins/p/go.mod'], true);
    const checked = planPluginBuild(plugin('go-plugin'), go, settings);
    const skipped = planPluginBuild(plugin('go-plugin'), go, { ...settings, moduleCheckSkipped: true });
    expect(skipped.inputsHash).not.toBe(checked.inputsHash);
    expect(skipped.cmd).toEqual(checked.cmd);
  });

  it('go-plugin: builds the main package\'s files (Go then gives it a plugin path unique to its inputs), tags in GOFLAGS for go list too', () => {
    const goPlugin = planPluginBuild(plugin('go-plugin'), sources(['plugins/p/go.mod', 'plugins/p/main.go'], true), { ...settings, goHostSettings: { '-trimpath': 'true', '-tags': 'netgo' } });
    // Run the build step with a stand-in `go` that lists two files, one with a space, and records its build arguments.
    const dir = mkdtempSync(join(tmpdir(), 'pb-goplan-'));
    try {
      writeFileSync(join(dir, 'go'), `#!/bin/sh\nif [ "$1" = list ]; then printf 'main.go\\na b.go\\n'; else printf '%s\\n' "$@" > "${dir}/args"; fi\n`, { mode: 0o755 });
      const step = (goPlugin.cmd[2] as string).split('\n').slice(2).join('\n');
      execFileSync('sh', ['-c', step], { cwd: dir, env: { ...process.env, PATH: `${dir}:${process.env.PATH}` } });
      expect(readFileSync(join(dir, 'args'), 'utf8').split('\n')).toEqual(['build', '-trimpath', '-buildvcs=false', '-buildmode=plugin', '-ldflags=-buildid=', '-o', '/out/libp.so', 'main.go', 'a b.go', '']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(goPlugin.env).toContain('GOFLAGS=-tags=netgo');
    expect(goPluginPath(['runtime.x', 'plugin/unnamed-8c0ea05539059e554b249dc08be79a21b270e9a2.Register'])).toBe('plugin/unnamed-8c0ea05539059e554b249dc08be79a21b270e9a2');
    expect(goPluginPath(['example.com/p.Register'])).toBeUndefined();
  });

  it('inputsHash is deterministic and covers sources, flags and the builder image', () => {
    const base = planPluginBuild(plugin('c'), sources(['plugins/p/a.c']), settings).inputsHash;
    expect(planPluginBuild(plugin('c'), sources(['plugins/p/a.c']), settings).inputsHash).toBe(base);
    const changedSource = { ...sources(['plugins/p/a.c']), files: [{ path: 'plugins/p/a.c', sha256: 'f'.repeat(64) }] };
    expect(planPluginBuild(plugin('c'), changedSource, settings).inputsHash).not.toBe(base);
    expect(planPluginBuild(plugin('c', { cflags: ['-O3'] }), sources(['plugins/p/a.c']), settings).inputsHash).not.toBe(base);
    expect(planPluginBuild(plugin('c'), sources(['plugins/p/a.c']), { ...settings, builderImageId: 'sha256:other' }).inputsHash).not.toBe(base);
  });

  it('refuses a C plugin without .c files and a Go plugin without go.mod', () => {
    expect(() => planPluginBuild(plugin('c'), sources(['plugins/p/readme.txt']), settings)).toThrow(BuilderError);
    expect(() => planPluginBuild(plugin('go-plugin'), sources(['plugins/p/main.go']), settings)).toThrow(/has no go.mod/);
  });
});

describe('toolchain', () => {
  it('chooses packages per package manager, kind and target libc', () => {
    expect(toolchainPackages('apt', ['c'], [])).toEqual(['ccache', 'gcc', 'libc6-dev']);
    expect(toolchainPackages('apt', ['c', 'go-c-shared'], ['zlib1g-dev', 'gcc'])).toEqual(['ccache', 'gcc', 'golang-go', 'libc6-dev', 'zlib1g-dev']);
    expect(toolchainPackages('apt', ['c'], [], 'musl')).toEqual(['ccache', 'gcc', 'musl-tools']);
    // A musl Go host from a Debian base: Debian's Go with musl's gcc wrapper (the report had no Go at all).
    expect(toolchainPackages('apt', ['go-plugin'], [], 'musl')).toEqual(['gcc', 'golang-go', 'musl-tools']);
    expect(planPluginBuild(plugin('go-plugin'), sources(['plugins/p/go.mod'], true), { ...settings, cCompiler: 'musl-gcc' }).env).toContain('CC=musl-gcc');
    expect(planPluginBuild(plugin('go-plugin'), sources(['plugins/p/go.mod'], true), settings).env.some((e) => e.startsWith('CC='))).toBe(false);
    expect(toolchainPackages('apk', ['c'], [])).toEqual(['ccache', 'gcc', 'musl-dev']);
    expect(packageManagerFor('debian')).toBe('apt');
    expect(packageManagerFor('alpine')).toBe('apk');
    expect(packageManagerFor('fedora')).toBeNull();
    expect(cCompiler('apt', 'musl')).toBe('musl-gcc');
    expect(cCompiler('apk', 'musl')).toBe('gcc');
  });

  it('reads compiler versions from the probe output', () => {
    expect(parseToolchainOutput('gcc=12.2.0\ngo=go1.19.8\n')).toEqual({ gcc: '12.2.0', go: 'go1.19.8' });
    expect(parseToolchainOutput('gcc=\ngo=\n')).toEqual({});
  });
});
