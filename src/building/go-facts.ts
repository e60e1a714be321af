import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ProjectConfig } from '../config/config.js';
import { BuilderError } from '../errors.js';
import { modulesFromFilePaths } from '../elf/go-file-modules.js';
import { readElf } from '../elf/read-elf.js';
import { lockedModules } from '../gomod/go-fingerprint.js';
import { checkModuleCompat } from '../gomod/module-compat.js';
import { type GoModFile, parseGoMod } from '../gomod/parse-go-mod.js';
import type { LockedGoModule } from '../lock/lockfile.js';
import type { BuildReporter } from './build-events.js';
import type { ProbedHost } from './probe-host.js';
import { type DifferingPackage, differingPackages } from '../gomod/package-hashes.js';
import type { GoHostBinary } from '../gomod/read-go-binary.js';

/**
 * Go version and modules of a built Go artifact. A c-shared library carries Go's build info;
 * a Go plugin carries none, so its modules are read from its file table (module@version
 * paths, replacements from go.mod) and its Go version is the builder's, which built it.
 */
export async function goFacts(
  path: string,
  toolchainGo: string | undefined,
  goMod: GoModFile | null,
): Promise<{ locked: { goVersion?: string; pluginPath?: string; deps?: LockedGoModule[] }; packageHashes: Record<string, string> }> {
  const bytes = await readFile(path);
  const facts = readElf(bytes);
  const info = facts.goBuildInfo;
  if (info) return { locked: { goVersion: info.goVersion, deps: lockedModules(info.deps) }, packageHashes: facts.goPackageHashes };
  const pluginPath = goPluginPath(facts.definitions.map((d) => d.symbol));
  const deps = modulesFromFilePaths(bytes).map((m): LockedGoModule => {
    const replace = goMod?.replace.find((r) => r.from === m.path && (r.fromVersion === null || r.fromVersion === m.version));
    return { ...m, ...(replace ? { replace: { path: replace.to, version: replace.toVersion ?? '(devel)' } } : {}) };
  });
  return { locked: { ...(toolchainGo ? { goVersion: toolchainGo } : {}), ...(pluginPath ? { pluginPath } : {}), deps }, packageHashes: facts.goPackageHashes };
}

/**
 * A Go plugin's exported symbols are named `<plugin path>.<name>`; builds of a main package's
 * files get `plugin/unnamed-<hash>` (see plan-plugin-build), which is what the lockfile records.
 */
export function goPluginPath(symbols: readonly string[]): string | undefined {
  for (const symbol of symbols) {
    const match = /^(plugin\/unnamed-[0-9a-f]{16,64})\./.exec(symbol);
    if (match) return match[1];
  }
  return undefined;
}

/**
 * Why a built go-plugin would not open in the host: packages whose link-time hashes differ
 * (plugin.Open's own comparison). Without -trimpath the directory a package was compiled from
 * is part of that hash, and builder does not compile from the host's directories.
 */
export function packageMismatchReason(pluginHashes: Record<string, string>, host: GoHostBinary, binary: string): string | null {
  const differing = differingPackages(pluginHashes, host.packageHashes);
  if (differing.length === 0) return null;
  const first = differing[0] as DifferingPackage;
  return (
    `${differing.map((d) => d.package).join(', ')} ${differing.length === 1 ? 'differs' : 'differ'} from ${binary}'s (link-time hash ${first.plugin} vs ${first.host}): ` +
    `plugin.Open would refuse it ("plugin was built with a different version of package ${first.package}"). ` +
    (host.settings['-trimpath'] === 'true'
      ? 'Build the plugin from the same module versions, sources and build tags as the host.'
      : `${binary} was built without -trimpath, so each package's identity includes the directory it was compiled from; builder compiles the standard library and the modules a plugin replaces with local directories from the host's directories, and this package still differs (other sources, or compiled from a place builder cannot reproduce): rebuild the host with -trimpath.`)
  );
}

/**
 * Refuse to build go-plugins whose go.mod disagrees with the modules the host binary links:
 * the Go runtime would refuse them at plugin.Open. Every difference of every plugin is listed
 * with the go.mod edit that fixes it.
 */
/**
 * Host build settings a plugin build cannot reproduce here: the builder's toolchain is gc
 * (Debian's golang-go); a host compiled by gccgo links packages gc cannot match. Every other
 * setting that changes package hashes is reproduced (plan-plugin-build.ts, goHostFlags).
 */
export function refuseUnreproducibleSettings(host: ProbedHost): void {
  const compiler = host.goBuildInfo?.settings['-compiler'];
  if (compiler && compiler !== 'gc') {
    throw new BuilderError('GO_SETTING_UNSUPPORTED', `${host.binary} was built with -compiler=${compiler}; go-plugins are built with gc, whose packages a ${compiler} host cannot load.`, {
      fix: `Build the host with the gc toolchain (the default go build), or use kind go-c-shared / c plugins for it.`,
    });
  }
}

export async function refuseGoModuleMismatches(config: ProjectConfig, host: ProbedHost, skip: boolean, report: BuildReporter): Promise<void> {
  if (!host.goBuildInfo) return;
  if (config.plugins.some((p) => p.kind === 'go-plugin')) refuseUnreproducibleSettings(host);
  const lines: string[] = [];
  for (const plugin of config.plugins.filter((p) => p.kind === 'go-plugin')) {
    const text = await readFile(join(plugin.dir, 'go.mod'), 'utf8').catch(() => null);
    if (text === null) continue;
    for (const d of checkModuleCompat(host.goBuildInfo.deps, parseGoMod(text))) {
      lines.push(`  - ${plugin.name}: ${d.module}: host ${host.binary} has ${d.host}, the plugin requires ${d.plugin}\n      fix: (cd ${plugin.path} && ${d.fix})`);
    }
  }
  if (lines.length === 0) return;
  if (skip) {
    report({ type: 'step', message: `WARNING: building despite module differences (--skip-go-module-check):\n${lines.join('\n')}` });
    return;
  }
  throw new BuilderError('GO_MODULE_MISMATCH', `Go plugins disagree with the host binary's modules; the Go runtime would refuse them:\n${lines.join('\n')}`, {
    fix: "Apply the go mod edit lines above (or rebuild the host with the plugin's versions), then build again.",
  });
}
