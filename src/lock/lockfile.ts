import * as z from 'zod';
import { LockfileError } from '../errors.js';
import { PLUGIN_KINDS, PLUGIN_NAME } from '../plugin-kinds.js';
import type { EnvironmentFingerprint } from '../env/fingerprint.js';
import type { ShardRecord } from './shard-record.js';
import { prettyCanonicalJson } from '../util/canonical-json.js';
import { describeJsonError } from '../util/json-error.js';
import { machineOfPlatform, PLATFORM_PATTERN, PLATFORMS, platformDir, platformOfMachine } from './platform.js';

export const LOCKFILE_VERSION = 1;

const hashTagged = z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be sha256:<64 hex digits>');
const fingerprintSchema = z.object({
  os: z.object({ id: z.string(), versionId: z.string() }),
  arch: z.string(),
  libc: z.object({ family: z.enum(['glibc', 'musl']), version: z.string() }),
  go: z
    .object({ version: z.string(), settings: z.record(z.string(), z.string()), deps: z.record(z.string(), z.string()) })
    .optional(),
});

// A replacement has no replacement of its own (Go's go.mod cannot say so): one level, not a
// recursive schema that a deeply nested lockfile could overflow the stack with.
const goModuleSchema = z.object({
  path: z.string(),
  version: z.string(),
  replace: z.object({ path: z.string(), version: z.string() }).strict().optional(),
});

const lockedPluginSchema = z.looseObject({
  kind: z.enum(PLUGIN_KINDS),
  file: z.string().regex(/^[A-Za-z0-9_.-]+\.so$/, 'must be a plain .so file name'),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 hex digits'),
  size: z.number().int().nonnegative(),
  inputsHash: hashTagged,
  goVersion: z.string().optional(),
  pluginPath: z.string().optional(),
  deps: z.array(goModuleSchema).optional(),
  // Checked entry by entry in parsePlugins (paths from a file never index a plain object).
  sources: z.looseObject({}).optional(),
  goModuleCheck: z.literal('skipped').optional(),
  proof: z
    .union([
      z.object({ result: z.literal('loaded'), imageId: z.string().max(200), program: z.string().max(4096) }).strict(),
      z.object({ result: z.literal('not-proven'), reason: z.string().max(4096) }).strict(),
    ])
    .optional(),
});

const environmentShape = {
  host: z.looseObject({
    image: z.string(),
    imageId: z.string(),
    repoDigest: z.string().regex(/@sha256:[0-9a-f]{64}$/, 'must be repo@sha256:<64 hex digits>').optional(),
    binary: z.string().optional(),
    fingerprint: fingerprintSchema,
    fingerprintHash: hashTagged,
  }),
  builder: z.looseObject({
    image: z.string(),
    imageId: z.string(),
    base: z.object({ image: z.string(), imageId: z.string(), fingerprint: fingerprintSchema, fingerprintHash: hashTagged }).optional(),
    fingerprint: fingerprintSchema,
    fingerprintHash: hashTagged,
    toolchain: z.record(z.string(), z.string()),
  }),
  // Checked entry by entry in parsePlugins: names from a file never index a plain object.
  plugins: z.looseObject({}),
};

const shardSchema = z
  .object({
    index: z.number().int().min(1).max(1000),
    count: z.number().int().min(1).max(1000),
    plugins: z.array(z.string().regex(PLUGIN_NAME)).max(100_000),
  })
  .strict()
  .refine((s) => s.index <= s.count, 'index must not exceed count')
  .optional();

const generatorSchema = z.object({ tool: z.string().max(200), node: z.string().max(100) }).strict().optional();

const lockfileSchema = z.looseObject({ lockfileVersion: z.literal(LOCKFILE_VERSION), generator: generatorSchema, ...environmentShape, shard: shardSchema });
const platformLockSchema = z.looseObject(environmentShape);
// A multi-platform lockfile has no top-level host: an older reader refuses it instead of
// loading one platform's entries on another.
const multiPlatformSchema = z.looseObject({
  lockfileVersion: z.literal(LOCKFILE_VERSION),
  generator: generatorSchema,
  platforms: z.looseObject({}),
  shard: shardSchema,
});

export interface LockedPlugin {
  kind: (typeof PLUGIN_KINDS)[number];
  /** File name inside the plugin directory, e.g. `libgreet.so`. */
  file: string;
  /** Hex sha256 of the file's bytes (as `sha256sum` prints it). */
  sha256: string;
  size: number;
  /** sha256 over sources, build settings and the builder image ID. */
  inputsHash: string;
  /** Go kinds: the Go version and modules read from the built artifact's build info. */
  goVersion?: string;
  /** go-plugin: its plugin path, `plugin/unnamed-<hash>`: unique per build inputs, so a new version loads beside the old one. */
  pluginPath?: string;
  deps?: LockedGoModule[];
  /** Each source file (path relative to the project, as hashed and uploaded) and its hex sha256: what `builder plan` compares to say which file changed. */
  sources?: Record<string, string>;
  /** What proved it loads: a real load in a container of the host image (see src/proof/), or why it was not proven. */
  proof?: LockedProof;
  /** go-plugin: built with --skip-go-module-check (its modules or packages were not checked against the host's). */
  goModuleCheck?: 'skipped';
}

export type LockedProof = { result: 'loaded'; imageId: string; program: string } | { result: 'not-proven'; reason: string };

export interface LockedGoModule {
  path: string;
  version: string;
  replace?: LockedGoModule;
}

export interface LockedEnvironment {
  image: string;
  imageId: string;
  /** The image's `repo@sha256:…` in the configured reference's repository, when it was pushed or pulled there. */
  repoDigest?: string;
  /** Go host executable inside the image (config host.binary). */
  binary?: string;
  fingerprint: EnvironmentFingerprint;
  fingerprintHash: string;
}

/** One platform's part of a lockfile: the host it loads on, the builder, the artifacts. */
export interface PlatformLock {
  host: LockedEnvironment;
  builder: LockedEnvironment & { toolchain: Record<string, string>; base?: LockedEnvironment };
  plugins: Record<string, LockedPlugin>;
}

/**
 * Which tool wrote a lockfile, for whoever reads it later. Information only: no hash, no check and
 * no "has the lockfile changed" decision looks at it (see sameLockContent).
 */
export interface LockGenerator {
  /** `plugin-builder 0.1.0` */
  tool: string;
  /** `process.version` of the Node that ran it. */
  node: string;
}

/** The lockfile of a config with one host image (its artifacts lie directly in the plugin directory). */
export interface Lockfile extends PlatformLock {
  lockfileVersion: typeof LOCKFILE_VERSION;
  generator?: LockGenerator;
  /** Only in a shard's lockfile (`builder build --shard K/N`): which shard, of which plugin list. `builder lock merge` drops it. */
  shard?: ShardRecord;
}

/**
 * The lockfile of a config with `host.platforms`: one host section and artifact set per
 * platform (as Terraform's lock holds hashes per platform); each platform's artifacts lie in
 * the plugin directory's `<os>-<arch>/` subdirectory.
 */
export interface MultiPlatformLockfile {
  lockfileVersion: typeof LOCKFILE_VERSION;
  generator?: LockGenerator;
  platforms: Record<string, PlatformLock>;
  shard?: ShardRecord;
}

export type LockDocument = Lockfile | MultiPlatformLockfile;

export const isMultiPlatform = (doc: LockDocument): doc is MultiPlatformLockfile => Object.hasOwn(doc, 'platforms');

/** One platform's entries as a lockfile of its own, and where its artifacts lie relative to the plugin directory. */
export interface PlatformView {
  platform: string;
  /** '' for a single-platform lockfile, else `<os>-<arch>`. */
  dir: string;
  lock: Lockfile;
}

/** Every platform of a lockfile, in name order; a single-platform lockfile's is read off its host's fingerprint. */
export function platformViews(doc: LockDocument): PlatformView[] {
  if (!isMultiPlatform(doc)) {
    const arch = doc.host.fingerprint.arch;
    return [{ platform: platformOfMachine(arch) ?? `linux/${arch}`, dir: '', lock: doc }];
  }
  return Object.keys(doc.platforms)
    .sort()
    .map((platform) => ({ platform, dir: platformDir(platform), lock: { lockfileVersion: doc.lockfileVersion, ...doc.platforms[platform]!, ...(doc.shard ? { shard: doc.shard } : {}) } }));
}

/** The entries for one platform, or undefined when the lockfile has none for it. */
export function platformView(doc: LockDocument, platform: string): PlatformView | undefined {
  return platformViews(doc).find((v) => v.platform === platform);
}

/**
 * The part of a lockfile a build target compares against: a platform's section (`platform` set),
 * or the whole file when both name one host image (`platform` null); none across the two shapes.
 */
export function lockSectionFor(doc: LockDocument | null, platform: string | null): Lockfile | null {
  if (!doc) return null;
  if (platform === null) return isMultiPlatform(doc) ? null : doc;
  return isMultiPlatform(doc) ? (platformView(doc, platform)?.lock ?? null) : null;
}

/** Canonical text: sorted keys, 2-space indent, trailing newline — stable diffs in review. */
export function serializeLockfile(lock: LockDocument): string {
  return prettyCanonicalJson(lock);
}

/** The document without its generator: what every comparison of lockfiles looks at. */
export function withoutGenerator<T extends LockDocument>(lock: T): T {
  const { generator: _, ...rest } = lock;
  return rest as T;
}

/**
 * Whether two lockfiles say the same thing, whichever tool version wrote them: a new version of
 * the tool alone must not rewrite (and so unsign) a lockfile whose builds did not change.
 */
export function sameLockContent(a: LockDocument, b: LockDocument): boolean {
  return serializeLockfile(withoutGenerator(a)) === serializeLockfile(withoutGenerator(b));
}

/** A lockfile of either shape. */
export function parseLockDocument(text: string, file = 'builder.lock.json'): LockDocument {
  try {
    return parseLockfileText(text, file);
  } catch (err) {
    if (err instanceof LockfileError) throw err;
    // Whatever else a hostile text provokes is still "this lockfile is invalid", never a crash.
    throw new LockfileError(file, `cannot be read as a lockfile: ${(err as Error).message}`);
  }
}

/** A single-platform lockfile; a multi-platform one is refused (read it with parseLockDocument and pick a platform). */
export function parseLockfile(text: string, file = 'builder.lock.json'): Lockfile {
  const doc = parseLockDocument(text, file);
  if (isMultiPlatform(doc)) throw new LockfileError(file, `holds one section per platform (${Object.keys(doc.platforms).sort().join(', ')}), where one host section was expected`);
  return doc;
}

type Fail = (issue: z.core.$ZodIssue | undefined, prefix?: (string | number)[]) => never;

function parseLockfileText(text: string, file: string): LockDocument {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new LockfileError(file, describeJsonError(text, err));
  }
  const fail: Fail = (issue, prefix = []) => {
    const where = [...prefix, ...(issue?.path ?? []).map((p) => (typeof p === 'symbol' ? String(p) : p))].join('.') || '(root)';
    throw new LockfileError(file, `${where}: ${issue?.message ?? 'invalid'}`);
  };
  if (raw !== null && typeof raw === 'object' && Object.hasOwn(raw, 'platforms')) {
    if (Object.hasOwn(raw, 'host') || Object.hasOwn(raw, 'builder') || Object.hasOwn(raw, 'plugins')) {
      throw new LockfileError(file, '(root): has both "platforms" and a top-level host, builder or plugins section');
    }
    const parsed = multiPlatformSchema.safeParse(raw);
    if (!parsed.success) return fail(parsed.error.issues[0]);
    const platforms: Record<string, PlatformLock> = Object.create(null) as Record<string, PlatformLock>;
    const entries = Object.entries((raw as { platforms: object }).platforms);
    if (entries.length === 0) throw new LockfileError(file, 'platforms: lists no platform');
    for (const [platform, value] of entries) {
      if (!PLATFORM_PATTERN.test(platform)) throw new LockfileError(file, `platforms.${JSON.stringify(platform).slice(0, 80)}: not a platform (expected one of ${PLATFORMS.join(', ')})`);
      const section = platformLockSchema.safeParse(value);
      if (!section.success) return fail(section.error.issues[0], ['platforms', platform]);
      // The section's own host says which machine it is for: a section filed under another
      // platform would hand one architecture's code to another.
      const machine = section.data.host.fingerprint.arch;
      if (platformOfMachine(machine) !== platform) throw new LockfileError(file, `platforms.${platform}.host.fingerprint.arch: ${JSON.stringify(machine).slice(0, 40)} is not ${platform}'s machine (${machineOfPlatform(platform)})`);
      platforms[platform] = { ...(section.data as Omit<PlatformLock, 'plugins'>), plugins: parsePlugins((value as { plugins: object }).plugins, file, ['platforms', platform], fail) };
    }
    return { ...(parsed.data as Omit<MultiPlatformLockfile, 'platforms'>), platforms };
  }
  const parsed = lockfileSchema.safeParse(raw);
  if (!parsed.success) return fail(parsed.error.issues[0]);
  return { ...(parsed.data as Omit<Lockfile, 'plugins'>), plugins: parsePlugins((raw as { plugins: object }).plugins, file, [], fail) };
}

function parseSources(value: object, file: string, at: string[]): Record<string, string> {
  const sources: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [path, hash] of Object.entries(value)) {
    if (path === '' || path.length > 4096 || path.startsWith('/') || path.split('/').includes('..')) throw new LockfileError(file, `${at.join('.')}.${JSON.stringify(path).slice(0, 80)}: not a relative path inside the project`);
    if (typeof hash !== 'string' || !/^[0-9a-f]{64}$/.test(hash)) throw new LockfileError(file, `${at.join('.')}.${JSON.stringify(path).slice(0, 80)}: must be 64 hex digits`);
    sources[path] = hash;
  }
  return sources;
}

function parsePlugins(value: object, file: string, prefix: string[], fail: Fail): Record<string, LockedPlugin> {
  // A null-prototype record: a plugin called "constructor" or "toString" is just a key, and
  // `plugins[name]` for a name that is not there is undefined, never an inherited function.
  const plugins: Record<string, LockedPlugin> = Object.create(null) as Record<string, LockedPlugin>;
  for (const [name, entryValue] of Object.entries(value)) {
    if (!PLUGIN_NAME.test(name)) throw new LockfileError(file, `${[...prefix, 'plugins'].join('.')}.${JSON.stringify(name).slice(0, 80)}: not a valid plugin name`);
    const entry = lockedPluginSchema.safeParse(entryValue);
    if (!entry.success) return fail(entry.error.issues[0], [...prefix, 'plugins', name]);
    plugins[name] = entry.data as LockedPlugin;
    const sources = (entryValue as { sources?: object }).sources;
    if (sources !== undefined) plugins[name] = { ...plugins[name], sources: parseSources(sources, file, [...prefix, 'plugins', name, 'sources']) };
  }
  return plugins;
}

/** Whether the lockfile lists a plugin of that name (own keys only). */
export function lockedPlugin(lock: PlatformLock, name: string): LockedPlugin | undefined {
  return Object.hasOwn(lock.plugins, name) ? lock.plugins[name] : undefined;
}
