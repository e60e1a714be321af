import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { parseLockfile, serializeLockfile } from '../../src/lock/lockfile.js';
import { sha256Hex } from '../../src/util/sha256.js';
import { cli } from './project.js';

export interface CPluginSpec {
  name: string;
  /** C source that defines `int Value(void)` (and whatever it needs). */
  source: string;
  cflags?: string[];
  libs?: string[];
}

export interface BuiltCPlugins {
  /** The output directory (it holds the lockfile too). */
  dir: string;
  lock: string;
  bytes(name: string): Promise<Buffer>;
}

/** The manifest the host runtime asks a C plugin for: one function, `int Value(void)`. */
const manifest = (name: string) =>
  `const char *builder_plugin_manifest(void) { return "{\\"name\\":\\"${name}\\",\\"version\\":\\"1\\",\\"functions\\":{\\"Value\\":\\"int Value(void)\\"}}"; }\n`;

/**
 * One project of C plugins for `host`, built with `builder build` (the real product path);
 * `builderBase` when the host image cannot be a builder's base (the musl stand-in); `buildArgs`
 * such as `--no-prove` for plugins meant not to load there.
 */
export async function buildCPlugins(host: string, plugins: CPluginSpec[], builderBase?: string, buildArgs: string[] = []): Promise<BuiltCPlugins> {
  const project = await mkdtemp(join(tmpdir(), 'pb-cplugins-'));
  for (const p of plugins) {
    await mkdir(join(project, 'plugins', p.name), { recursive: true });
    await writeFile(join(project, 'plugins', p.name, `${p.name}.c`), manifest(p.name) + p.source);
  }
  const config = {
    host: { image: host },
    ...(builderBase ? { builder: { base: builderBase } } : {}),
    plugins: plugins.map((p) => ({ name: p.name, kind: 'c', path: `plugins/${p.name}`, ...(p.cflags ? { cflags: p.cflags } : {}), ...(p.libs ? { libs: p.libs } : {}) })),
    outDir: 'dist/plugins',
    lockfile: 'dist/plugins/builder.lock.json',
  };
  await writeFile(join(project, 'builder.config.json'), JSON.stringify(config));
  const run = await cli(project, ['build', ...buildArgs]);
  expect(run.code, run.stderr).toBe(0);
  const dir = join(project, 'dist/plugins');
  return { dir, lock: join(dir, 'builder.lock.json'), bytes: (name) => readFile(join(dir, `lib${name}.so`)) };
}

/**
 * A copy of a built plugin directory where `name` has other bytes, locked as if a toolchain had
 * produced them (sha256 and size rewritten): for shapes `builder build` never writes.
 */
export async function relocked(built: BuiltCPlugins, name: string, bytes: Buffer): Promise<BuiltCPlugins> {
  const dir = await mkdtemp(join(tmpdir(), 'pb-relocked-'));
  const lock = parseLockfile(await readFile(built.lock, 'utf8'));
  const entry = lock.plugins[name]!;
  lock.plugins[name] = { ...entry, sha256: sha256Hex(bytes), size: bytes.length };
  await writeFile(join(dir, 'builder.lock.json'), serializeLockfile(lock));
  await writeFile(join(dir, entry.file), bytes);
  return { dir, lock: join(dir, 'builder.lock.json'), bytes: async (n) => (n === name ? bytes : built.bytes(n)) };
}

// A constructor that finds the run's nonce in its own command line (code in the process can read
// anything the loader knows) and reports every artifact as loaded, the run as done.
export const FORGE_REPORT = `#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
static void forge(void) {
  static char buf[65536]; char nonce[65] = "";
  int fd = open("/proc/self/cmdline", O_RDONLY); ssize_t n = read(fd, buf, sizeof buf - 1); close(fd);
  if (n <= 0) return; buf[n] = 0;
  for (char *p = buf; p < buf + n; p += strlen(p) + 1) {
    size_t l = strlen(p); int hex = l >= 16 && l <= 64;
    for (size_t i = 0; hex && i < l; i++) hex = isxdigit((unsigned char)p[i]) && !isupper((unsigned char)p[i]);
    if (hex) { strcpy(nonce, p); break; }
  }
  if (!*nonce) return;
  for (char *p = buf; p < buf + n; p += strlen(p) + 1) { char *f = strstr(p, "/builder-proof/"); if (f) dprintf(1, "\\n%s loaded %s\\n", nonce, f); }
  dprintf(1, "\\n%s loaded /proc/self/fd/3\\n\\n%s done\\n", nonce, nonce);
}
`;

/** The forger as a constructor. */
export const NONCE_THIEF = `${FORGE_REPORT}__attribute__((constructor)) static void steal(void) { forge(); }\n`;
