/** A package both a Go plugin and its host link, with different link-time hashes. */
export interface DifferingPackage {
  package: string;
  plugin: string;
  host: string;
}

/**
 * What plugin.Open compares (runtime plugin_lastmoduleinit): for every package the plugin
 * links, its link-time hash against the host's. Packages only one side links do not count.
 */
export function differingPackages(plugin: Record<string, string>, host: Record<string, string>): DifferingPackage[] {
  return Object.entries(plugin)
    .filter(([pkg, hash]) => host[pkg] !== undefined && host[pkg] !== hash)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([pkg, hash]) => ({ package: pkg, plugin: hash, host: host[pkg] as string }));
}
