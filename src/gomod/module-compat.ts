import type { GoModule } from '../elf/go-buildinfo.js';
import { type GoModFile, isLocalReplacement } from './parse-go-mod.js';

export interface ModuleDifference {
  module: string;
  host: string;
  plugin: string;
  /** The go.mod edit that makes the plugin agree with the host. */
  fix: string;
}

function replacementOf(mod: GoModFile, path: string, version: string) {
  return mod.replace.find((r) => r.from === path && (r.fromVersion === null || r.fromVersion === version)) ?? null;
}

/**
 * Compare a plugin's go.mod with the modules its host binary links. Every module both use
 * must have the same version and the same kind of replacement; Go refuses the plugin
 * otherwise ("plugin was built with a different version of package"). Pure.
 */
export function checkModuleCompat(hostDeps: readonly GoModule[], plugin: GoModFile): ModuleDifference[] {
  const differences: ModuleDifference[] = [];
  const host = new Map(hostDeps.map((d) => [d.path, d]));
  for (const req of plugin.require) {
    const dep = host.get(req.path);
    if (!dep) continue;
    const pluginReplace = replacementOf(plugin, req.path, req.version);
    if (dep.version !== req.version) {
      differences.push({
        module: req.path,
        host: dep.version,
        plugin: req.version,
        fix: `go mod edit -require=${req.path}@${dep.version}`,
      });
    }
    const hostTarget = dep.replace ? (isLocalReplacement(dep.replace.path) ? 'a local directory' : `${dep.replace.path}@${dep.replace.version}`) : 'none';
    const pluginTarget = pluginReplace
      ? isLocalReplacement(pluginReplace.to) ? 'a local directory' : `${pluginReplace.to}@${pluginReplace.toVersion ?? ''}`
      : 'none';
    if (hostTarget !== pluginTarget) {
      differences.push({
        module: `${req.path} (replacement)`,
        host: hostTarget,
        plugin: pluginTarget,
        fix: dep.replace
          ? `go mod edit -replace=${req.path}=${dep.replace.path}${isLocalReplacement(dep.replace.path) ? '' : `@${dep.replace.version}`}`
          : `go mod edit -dropreplace=${req.path}`,
      });
    }
  }
  return differences;
}
