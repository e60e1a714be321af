import type { GoBuildInfo, GoModule } from '../elf/go-buildinfo.js';
import type { GoFingerprint } from '../env/fingerprint.js';
import type { LockedGoModule } from '../lock/lockfile.js';

// Build settings a plugin must share with its host for the Go runtime to accept it: each changes
// the hashes of the packages both link (the race runtime, compiler flags, experiments), and the
// build info records each one a binary was built with.
export const PLUGIN_RELEVANT_SETTINGS = ['GOOS', 'GOARCH', 'GOAMD64', 'GOARM', 'GOARM64', 'CGO_ENABLED', '-trimpath', '-tags', '-race', '-msan', '-asan', '-gcflags', '-asmflags', 'GOEXPERIMENT'];

export function describeModule(module: GoModule): string {
  if (!module.replace) return module.version;
  const target = module.replace.version && module.replace.version !== '(devel)' ? `${module.replace.path} ${module.replace.version}` : module.replace.path;
  return `${module.version} => ${target}`;
}

/** The Go part of a host's fingerprint, from its executable's build info. */
export function goFingerprint(info: GoBuildInfo): GoFingerprint {
  const settings: Record<string, string> = {};
  for (const key of PLUGIN_RELEVANT_SETTINGS) {
    const value = info.settings[key];
    if (value !== undefined) settings[key] = value;
  }
  const deps: Record<string, string> = {};
  for (const dep of info.deps) deps[dep.path] = describeModule(dep);
  return { version: info.goVersion, settings, deps };
}

export function lockedModules(modules: readonly GoModule[]): LockedGoModule[] {
  return modules.map((m) => ({
    path: m.path,
    version: m.version,
    ...(m.replace ? { replace: { path: m.replace.path, version: m.replace.version } } : {}),
  }));
}
