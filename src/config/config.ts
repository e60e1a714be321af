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
}

/** A validated config with every path resolved against the project directory. */
export interface ProjectConfig {
  projectDir: string;
  configFile: string;
  hostImage: string;
  /** Path of the Go host executable inside the host image (for go-plugin). */
  hostBinary: string | undefined;
  builderBase: string | undefined;
  builderPackages: readonly string[];
  plugins: readonly PluginConfig[];
  outDir: string;
  lockfile: string;
  sourceDateEpoch: number;
}

export const DEFAULT_OUT_DIR = 'dist/plugins';
export const DEFAULT_LOCKFILE = 'builder.lock.json';
