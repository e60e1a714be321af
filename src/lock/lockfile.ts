import { z } from 'zod';
import { LockfileError } from '../errors.js';
import { PLUGIN_KINDS, PLUGIN_NAME } from '../config/schema.js';
import type { EnvironmentFingerprint } from '../env/fingerprint.js';
import type { ShardRecord } from '../shard/shard.js';
import { prettyCanonicalJson } from '../util/canonical-json.js';

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
});

const lockfileSchema = z.looseObject({
  lockfileVersion: z.literal(LOCKFILE_VERSION),
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
  // Checked entry by entry in parseLockfile: names from a file never index a plain object.
  plugins: z.looseObject({}),
  shard: z
    .object({
      index: z.number().int().min(1).max(1000),
      count: z.number().int().min(1).max(1000),
      plugins: z.array(z.string().regex(PLUGIN_NAME)).max(100_000),
    })
    .strict()
    .refine((s) => s.index <= s.count, 'index must not exceed count')
    .optional(),
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
}

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

export interface Lockfile {
  lockfileVersion: typeof LOCKFILE_VERSION;
  host: LockedEnvironment;
  builder: LockedEnvironment & { toolchain: Record<string, string>; base?: LockedEnvironment };
  plugins: Record<string, LockedPlugin>;
  /** Only in a shard's lockfile (`builder build --shard K/N`): which shard, of which plugin list. `builder lock merge` drops it. */
  shard?: ShardRecord;
}

/** Canonical text: sorted keys, 2-space indent, trailing newline — stable diffs in review. */
export function serializeLockfile(lock: Lockfile): string {
  return prettyCanonicalJson(lock);
}

export function parseLockfile(text: string, file = 'builder.lock.json'): Lockfile {
  try {
    return parseLockfileText(text, file);
  } catch (err) {
    if (err instanceof LockfileError) throw err;
    // Whatever else a hostile text provokes is still "this lockfile is invalid", never a crash.
    throw new LockfileError(file, `cannot be read as a lockfile: ${(err as Error).message}`);
  }
}

function parseLockfileText(text: string, file: string): Lockfile {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new LockfileError(file, `not valid JSON: ${(err as Error).message}`);
  }
  const fail = (issue: z.core.$ZodIssue | undefined, prefix: (string | number)[] = []): never => {
    const where = [...prefix, ...(issue?.path ?? []).map((p) => (typeof p === 'symbol' ? String(p) : p))].join('.') || '(root)';
    throw new LockfileError(file, `${where}: ${issue?.message ?? 'invalid'}`);
  };
  const parsed = lockfileSchema.safeParse(raw);
  if (!parsed.success) return fail(parsed.error.issues[0]);
  // A null-prototype record: a plugin called "constructor" or "toString" is just a key, and
  // `plugins[name]` for a name that is not there is undefined, never an inherited function.
  const plugins: Record<string, LockedPlugin> = Object.create(null) as Record<string, LockedPlugin>;
  for (const [name, value] of Object.entries((raw as { plugins: object }).plugins)) {
    if (!PLUGIN_NAME.test(name)) throw new LockfileError(file, `plugins.${JSON.stringify(name).slice(0, 80)}: not a valid plugin name`);
    const entry = lockedPluginSchema.safeParse(value);
    if (!entry.success) return fail(entry.error.issues[0], ['plugins', name]);
    plugins[name] = entry.data as LockedPlugin;
  }
  return { ...(parsed.data as Omit<Lockfile, 'plugins'>), plugins };
}

/** Whether the lockfile lists a plugin of that name (own keys only). */
export function lockedPlugin(lock: Lockfile, name: string): LockedPlugin | undefined {
  return Object.hasOwn(lock.plugins, name) ? lock.plugins[name] : undefined;
}
