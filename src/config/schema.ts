import * as z from 'zod';
import { LOCKFILE_LIMITS } from '../limits.js';
import { PLUGIN_KINDS, PLUGIN_NAME } from '../plugin-kinds.js';

export { isCFamily, PLUGIN_KINDS, PLUGIN_NAME, type PluginKind } from '../plugin-kinds.js';

// Packages are passed to apt-get/apk as arguments: refuse anything that could be an option or
// a shell word, so a config can never smuggle flags into the builder image build.
const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.:=~_-]*$/;
// Compiler flags are passed as separate argv entries (no shell), but a flag that redirects
// output or inputs (-o, @file) would break the fixed-path contract.
const FLAG = /^-[^\s]*$/;

const nonEmpty = () => z.string().min(1, 'must not be empty');

// Strict objects: a misspelled key ("outdir", "cflag") silently ignored builds something other
// than what the user wrote, so every unknown key is an error (with a suggestion, see config-issues).
export const pluginSchema = z.strictObject({
  name: nonEmpty().regex(PLUGIN_NAME, 'must be 1-64 letters, digits, "-" or "_", starting with a letter or digit'),
  kind: z.enum(PLUGIN_KINDS, { error: (issue) => (issue.input === undefined ? undefined : `unknown kind ${JSON.stringify(issue.input)}; expected one of ${PLUGIN_KINDS.join(', ')}`) }),
  path: nonEmpty(),
  cflags: z.array(z.string().regex(FLAG, 'each flag must start with "-" and contain no spaces')).optional(),
  cxxflags: z.array(z.string().regex(FLAG, 'each flag must start with "-" and contain no spaces')).optional(),
  // Links libstdc++ and libgcc into the plugin: it then needs no GLIBCXX/CXXABI version from the host.
  staticLibstdcxx: z.boolean().optional(),
  libs: z.array(z.string().regex(/^-(l|L)[^\s]+$/, 'each entry must be -lNAME or -LDIR')).optional(),
  // Files left out of the plugin's sources (neither hashed nor uploaded): .gitignore patterns, relative to path.
  exclude: z.array(z.string().min(1, 'must not be empty').max(1024, 'must be at most 1024 characters')).max(1000).optional(),
});

export const hostSchema = z.strictObject({
  // Exactly one of image and platforms (checked in validate-config, with the other semantics).
  image: nonEmpty().optional(),
  // One host image per platform ("linux/arm64": "repo:tag"): one builder, artifact set and
  // lockfile section each.
  platforms: z
    // Keys are checked in validate-config: zod reports a bad record key without its message.
    .record(z.string(), nonEmpty())
    .refine((r) => Object.keys(r).length > 0, 'must name at least one platform')
    .optional(),
  binary: nonEmpty().regex(/^\//, 'must be an absolute path inside the host image').optional(),
  // The command that proves a build's artifacts load in the host image (each artifact's path
  // appended; exit 0: it loaded), for hosts that are neither `builder host` nor a pluginhost binary.
  loader: z.array(nonEmpty().max(4096)).min(1, 'must name a command').max(64).optional(),
});

export const builderSchema = z.strictObject({
  base: nonEmpty().optional(),
  packages: z.array(z.string().regex(PACKAGE_NAME, 'not a valid package name')).optional(),
});

export const configSchema = z.strictObject({
  // Editors read "$schema"; the tool itself ignores it.
  $schema: z.string().optional(),
  host: hostSchema,
  builder: builderSchema.optional(),
  plugins: z.array(pluginSchema).min(1, 'at least one plugin is required').max(LOCKFILE_LIMITS.maxPlugins, `at most ${LOCKFILE_LIMITS.maxPlugins} plugins (what a runtime accepts in one lockfile)`),
  outDir: nonEmpty().optional(),
  lockfile: nonEmpty().optional(),
  sourceDateEpoch: z.number().int().nonnegative().optional(),
});

export type RawConfig = z.infer<typeof configSchema>;

/** The keys an object at `path` may have (`plugins[3]` → a plugin's keys), for suggestions. */
export function knownKeysAt(path: readonly PropertyKey[]): readonly string[] {
  const where = path.filter((p) => typeof p !== 'number').join('.');
  const shapes: Record<string, object> = { '': configSchema.shape, host: hostSchema.shape, builder: builderSchema.shape, plugins: pluginSchema.shape };
  return Object.keys(shapes[where] ?? {});
}
