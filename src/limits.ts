/**
 * One set of lockfile limits for every place a lockfile is written (build, lock merge, sign)
 * and every place it is read (the CLI, the Node runtime, and go/pluginhost's DefaultLimits,
 * which repeat these numbers): a lockfile the tool writes is one every runtime accepts.
 */
export const LOCKFILE_LIMITS = {
  /** Bytes of lockfile text. */
  maxBytes: 1024 * 1024,
  /** Plugins over all platforms of one lockfile (and so in one config). */
  maxPlugins: 1000,
  /** Bytes of its DSSE envelope. */
  maxSignatureBytes: 4 * 1024 * 1024,
} as const;

/** A config is JSON a person writes; a larger one is a mistake or an attack (a 50 MB config took 1.16 GB here). */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/** A plugin store's default size (`--store-max-bytes`; go/pluginhost's StoreMaxBytes default too): a few sets of the largest plugins, the least recently used collected first. */
export const DEFAULT_STORE_BYTES = 2 * 1024 * 1024 * 1024;
