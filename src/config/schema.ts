import { z } from 'zod';

export const PLUGIN_KINDS = ['c', 'go-c-shared', 'go-plugin'] as const;
export type PluginKind = (typeof PLUGIN_KINDS)[number];

// Plugin names become file names (lib<name>.so) and lockfile keys: keep them boring.
export const PLUGIN_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
// Packages are passed to apt-get/apk as arguments: refuse anything that could be an option or
// a shell word, so a config can never smuggle flags into the builder image build.
const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.:=~_-]*$/;
// Compiler flags are passed as separate argv entries (no shell), but a flag that redirects
// output or inputs (-o, @file) would break the fixed-path contract.
const FLAG = /^-[^\s]*$/;

const nonEmpty = (what: string) => z.string({ error: `${what} must be a string` }).min(1, `${what} must not be empty`);

export const pluginSchema = z.looseObject({
  name: nonEmpty('name').regex(PLUGIN_NAME, 'must be 1-64 letters, digits, "-" or "_", starting with a letter or digit'),
  kind: z.enum(PLUGIN_KINDS, { error: (issue) => `unknown kind ${JSON.stringify(issue.input)}; expected one of ${PLUGIN_KINDS.join(', ')}` }),
  path: nonEmpty('path'),
  cflags: z.array(z.string().regex(FLAG, 'each flag must start with "-" and contain no spaces')).optional(),
  libs: z.array(z.string().regex(/^-(l|L)[^\s]+$/, 'each entry must be -lNAME or -LDIR')).optional(),
});

export const configSchema = z.looseObject({
  host: z.looseObject({
    image: nonEmpty('host.image'),
    binary: nonEmpty('host.binary').regex(/^\//, 'must be an absolute path inside the host image').optional(),
  }),
  builder: z
    .looseObject({
      base: nonEmpty('builder.base').optional(),
      packages: z.array(z.string().regex(PACKAGE_NAME, 'not a valid package name')).optional(),
    })
    .optional(),
  plugins: z.array(pluginSchema).min(1, 'at least one plugin is required'),
  outDir: nonEmpty('outDir').optional(),
  lockfile: nonEmpty('lockfile').optional(),
  sourceDateEpoch: z.number().int().nonnegative().optional(),
});

export type RawConfig = z.infer<typeof configSchema>;
