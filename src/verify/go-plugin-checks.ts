import type { GoBuildInfo } from '../elf/go-buildinfo.js';
import { modulesFromFilePaths } from '../elf/go-file-modules.js';
import { describeModule } from '../gomod/go-fingerprint.js';
import type { LockedPlugin } from '../lock/lockfile.js';

export interface GoProblem {
  check: 'go-version' | 'go-module';
  message: string;
  fix: string;
}

/**
 * Would a Go host accept this go-plugin? Its Go version (recorded at build: plugins carry no
 * build info) must equal the host binary's exactly — otherwise plugin.Open does not return
 * an error, the host dies — and every module both link must have the same version.
 */
export function checkGoPlugin(entry: LockedPlugin, bytes: Uint8Array, host: GoBuildInfo, binary: string): GoProblem[] {
  const problems: GoProblem[] = [];
  if (entry.goVersion && entry.goVersion !== host.goVersion) {
    problems.push({
      check: 'go-version',
      message: `built with ${entry.goVersion}, the host binary ${binary} with ${host.goVersion}: plugin.Open would crash the host ("fatal error: runtime: no plugin module data"), not return an error`,
      fix: `rebuild it with builder build against this host image (its builder must have Go ${host.goVersion})`,
    });
  }
  const hostDeps = new Map(host.deps.map((d) => [d.path, d]));
  for (const module of modulesFromFilePaths(bytes)) {
    const dep = hostDeps.get(module.path);
    if (dep && dep.version !== module.version) {
      problems.push({
        check: 'go-module',
        message: `links ${module.path} ${module.version}, the host binary has ${describeModule(dep)}: plugin.Open would fail ("plugin was built with a different version of package ${module.path}")`,
        fix: `go mod edit -require=${module.path}@${dep.version} in the plugin, then builder build`,
      });
    }
  }
  return problems;
}
