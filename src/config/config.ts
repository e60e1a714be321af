import { join } from 'node:path';
import { platformDir } from '../lock/platform.js';
import type { PluginKind } from './schema.js';

export type { PluginKind } from './schema.js';

export interface PluginConfig {
  name: string;
  kind: PluginKind;
  /** Absolute path of the plugin's source directory (inside the project). */
  dir: string;
  /** As written in the config, for messages and the lockfile. */
  path: string;
  cflags: readonly string[];
  /** kind cpp: flags for the C++ compiler (C sources of the plugin get cflags). */
  cxxflags: readonly string[];
  staticLibstdcxx: boolean;
  libs: readonly string[];
  /** Globs of files left out of the sources (relative to dir, .gitignore syntax). */
  exclude: readonly string[];
}

/** A validated config with every path resolved against the project directory. */
export interface ProjectConfig {
  projectDir: string;
  configFile: string;
  /** The host image; with `host.platforms`, the first platform's (a build goes through platformConfigs). */
  hostImage: string;
  /** `host.platforms`, in platform order; null for a config with one `host.image`. */
  hostPlatforms: ReadonlyArray<{ platform: string; image: string }> | null;
  /** Path of the Go host executable inside the host image (for go-plugin). */
  hostBinary: string | undefined;
  /** host.loader: the command a build's proof loads each artifact with (its path appended). */
  hostLoader?: readonly string[];
  builderBase: string | undefined;
  builderPackages: readonly string[];
  plugins: readonly PluginConfig[];
  outDir: string;
  lockfile: string;
  sourceDateEpoch: number;
}

export const DEFAULT_OUT_DIR = 'dist/plugins';
export const DEFAULT_LOCKFILE = 'builder.lock.json';

/** One host image's share of a config: the config a single-platform build would have. */
export interface PlatformTarget {
  /** null for a config with one `host.image`. */
  platform: string | null;
  /** Where its artifacts go under outDir ('' for a single-platform config). */
  dir: string;
  config: ProjectConfig;
}

/** The builds a config asks for: itself, or one per `host.platforms` entry with its artifacts in `outDir/<os>-<arch>/`. */
export function platformTargets(config: ProjectConfig): PlatformTarget[] {
  if (!config.hostPlatforms) return [{ platform: null, dir: '', config }];
  return config.hostPlatforms.map(({ platform, image }) => ({
    platform,
    dir: platformDir(platform),
    config: { ...config, hostImage: image, hostPlatforms: null, outDir: join(config.outDir, platformDir(platform)) },
  }));
}
