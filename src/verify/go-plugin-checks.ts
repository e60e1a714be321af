import { modulesFromFilePaths } from '../elf/go-file-modules.js';
import { differingPackages } from '../gomod/package-hashes.js';
import type { GoHostBinary } from '../gomod/read-go-binary.js';
import { describeModule } from '../gomod/go-fingerprint.js';
import type { LockedPlugin } from '../lock/lockfile.js';

export interface GoProblem {
  check: 'go-version' | 'go-module' | 'go-package';
  message: string;
  fix: string;
}

/**
 * Would a Go host accept this go-plugin? Its Go version (recorded at build: plugins carry no
 * build info) must equal the host binary's exactly — otherwise plugin.Open does not return
 * an error, the host dies —, every module both link must have the same version, and — what
 * plugin.Open itself compares — every package both link must have the same link-time hash
 * (go.link.pkghashbytes.*): that hash covers the package's export data, so the directory it
 * was compiled from (without -trimpath), its build tags and its sources all count.
 */
export function checkGoPlugin(entry: LockedPlugin, bytes: Uint8Array, pluginHashes: Record<string, string>, host: GoHostBinary, binary: string): GoProblem[] {
  const problems: GoProblem[] = [];
  if (entry.goVersion && entry.goVersion !== host.goVersion) {
    problems.push({
      check: 'go-version',
      message: `built with ${entry.goVersion}, the host binary ${binary} with ${host.goVersion}: plugin.Open would crash the host ("fatal error: runtime: no plugin module data"), not return an error`,
      fix: `rebuild it with builder build against this host image (its builder must have Go ${host.goVersion})`,
    });
  }
  const hostDeps = new Map(host.deps.map((d) => [d.path, d]));
  const mismatchedModules: string[] = [];
  for (const module of modulesFromFilePaths(bytes)) {
    const dep = hostDeps.get(module.path);
    if (dep && dep.version !== module.version) {
      mismatchedModules.push(module.path);
      problems.push({
        check: 'go-module',
        message: `links ${module.path} ${module.version}, the host binary has ${describeModule(dep)}: plugin.Open would fail ("plugin was built with a different version of package ${module.path}")`,
        fix: `go mod edit -require=${module.path}@${dep.version} in the plugin, then builder build`,
      });
    }
  }
  // A module already reported explains the differing hashes of its packages.
  const trimmed = host.settings['-trimpath'] === 'true';
  for (const { package: pkg, plugin: hash, host: hostHash } of differingPackages(pluginHashes, host.packageHashes)) {
    if (mismatchedModules.some((m) => pkg === m || pkg.startsWith(`${m}/`))) continue;
    problems.push({
      check: 'go-package',
      message:
        `package ${pkg} differs between the plugin and ${binary} (link-time hash ${hash} vs ${hostHash}): plugin.Open would fail ("plugin was built with a different version of package ${pkg}")` +
        (trimmed ? '' : `; ${binary} was built without -trimpath, so the directory each package was compiled from is part of its identity`),
      fix: trimmed
        ? `build the plugin from the same sources and build tags as the host's ${pkg}`
        : `rebuild the host with -trimpath (builder build does not reproduce the host's source directories), then builder build`,
    });
  }
  return problems;
}
