import type { PluginKind } from '../config/config.js';
import type { ShardRecord } from '../shard/shard.js';
import { type LockedEnvironment, type LockedGoModule, type LockedProof } from '../lock/lockfile.js';
import type { CompilerCacheEvent } from './compiler-cache.js';

/** What a build reports: per plugin and for the whole run (the CLI prints it, --json is it). */

/** built/unchanged: ready to lock; kept: not named in `build NAME…`, locked as it was; identical/differs: --check verdicts. */
export type PluginStatus = 'built' | 'unchanged' | 'kept' | 'failed' | 'identical' | 'differs';

export interface PluginReport {
  name: string;
  kind: PluginKind;
  file: string;
  status: PluginStatus;
  seconds: number;
  sha256?: string;
  size?: number;
  inputsHash?: string;
  goVersion?: string;
  /** go-plugin: its plugin path (unique per build inputs), read from the artifact. */
  pluginPath?: string;
  deps?: LockedGoModule[];
  /** What proved it loads in the host image (or why it is not proven). */
  proof?: LockedProof;
  /** A go-plugin built with --skip-go-module-check. */
  goModuleCheck?: 'skipped';
  /** Its source files and their sha256, as locked. */
  sources?: Record<string, string>;
  /** With --check: what the lockfile says (absent when the plugin is not in it). */
  lockedSha256?: string;
  /** A kept plugin whose artifact on disk is not the locked one. */
  stale?: boolean;
  /** With host.platforms: the platform this artifact is for (each plugin is reported once per platform). */
  platform?: string;
  reason?: string;
  /** The end of the compiler output (at most 64 KiB) … */
  output?: string;
  /** … of this many bytes in all. */
  outputBytes?: number;
}

export interface BuildReport {
  outcome: 'built' | 'failed' | 'check-passed' | 'check-failed';
  lockfile: string;
  outDir: string;
  host: LockedEnvironment;
  builder: LockedEnvironment & { toolchain: Record<string, string>; base?: LockedEnvironment };
  /** Where this run's builder image came from: the engine, the --cache-from repository, or a build here. */
  builderImageSource: 'reused' | 'pulled' | 'built';
  plugins: PluginReport[];
  /** With host.platforms: each platform's host and builder (host and builder above are the first platform's). */
  platforms?: Array<{ platform: string; host: LockedEnvironment; builder: BuildReport['builder']; builderImageSource: BuildReport['builderImageSource'] }>;
  /** With --cache-from / --cache-to (and the compiler cache in use): what became of the compiler cache. */
  compilerCache?: CompilerCacheEvent[];
  /** With --shard: which shard of which plugin list this run built. */
  shard?: ShardRecord;
  /** Where the lockfile's signature was written, and by which key (with a signer). */
  signature?: { path: string; keyId: string };
}
