import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { serializeLockfile, type Lockfile, type LockedPlugin } from '../../src/lock/lockfile.js';
import type { NativeLoader } from '../../src/runtime/native-loader.js';

export const ENV = { os: { id: 'debian', versionId: '12' }, arch: 'x86_64', libc: { family: 'glibc' as const, version: '2.36' } };
export const H = (c: string) => `sha256:${c.repeat(64)}`;
export const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

const made: string[] = [];
afterAll(async () => {
  await Promise.all(made.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

/** A temp directory removed when the test file ends. */
export async function tempDir(prefix = 'pb-test-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/**
 * A loader whose "libraries" are text files: `GREET:<version>:<offset>[:<name>[:<prototype>]]`.
 * Add(a, b) = a + b + offset; Big echoes an int64_t as koffi would (BigInt beyond 2^53);
 * Echo echoes a string; an extra prototype is declared as given. `BROKEN` fails like dlopen.
 */
export function fakeLoader(): NativeLoader & { paths: string[] } {
  const paths: string[] = [];
  return {
    paths,
    load(path) {
      paths.push(path);
      const text = readFileSync(path, 'utf8');
      if (text.startsWith('BROKEN')) throw new Error("version `GLIBC_2.38' not found (required by x.so)");
      const [, version = '?', offset = '0', name = 'greet', extra] = text.split(':');
      const functions: Record<string, string> = { Add: 'int Add(int a, int b)', Big: 'int64_t Big(int64_t v)', Echo: 'const char *Echo(const char *s)' };
      if (extra) functions[/(\w+)\s*\(/.exec(extra)?.[1] ?? 'X'] = extra;
      return {
        // "system" stands for a symbol that only a dependency (libc) defines.
        definedHere: (symbol: string) => symbol !== 'system',
        func(prototype: string) {
          if (prototype.startsWith('const char *builder_plugin_manifest')) return () => JSON.stringify({ name, version, functions });
          if (/ Add\(/.test(prototype)) return (...args: unknown[]) => (args[0] as number) + (args[1] as number) + Number(offset);
          if (/ Big\(/.test(prototype)) return (v: unknown) => (typeof v === 'bigint' && Number.isSafeInteger(Number(v)) ? Number(v) : v);
          if (/ Echo\(/.test(prototype)) return (s: unknown) => s;
          return () => 0;
        },
      };
    },
  };
}

export function lockFor(lockFiles: Record<string, string | Buffer>, env = ENV): Lockfile {
  const plugins: Record<string, LockedPlugin> = {};
  for (const [file, content] of Object.entries(lockFiles)) {
    const name = file.replace(/^lib|\.so$/g, '');
    plugins[name] = { kind: 'c', file, sha256: sha(content), size: Buffer.byteLength(content), inputsHash: H('e') };
  }
  return {
    lockfileVersion: 1,
    host: { image: 'h', imageId: H('a'), fingerprint: env, fingerprintHash: H('b') },
    builder: { image: 'b', imageId: H('c'), fingerprint: env, fingerprintHash: H('b'), toolchain: {} },
    plugins,
  };
}

export async function writeLock(dir: string, lockFiles: Record<string, string | Buffer>, env = ENV): Promise<void> {
  await writeFile(join(dir, 'builder.lock.json'), serializeLockfile(lockFor(lockFiles, env)));
}

/** A plugin directory: the files, and a lockfile for `lockFiles` (default: the same files). */
export async function deploy(files: Record<string, string>, lockFiles: Record<string, string> = files, env = ENV): Promise<string> {
  const dir = await tempDir('pb-host-');
  for (const [file, content] of Object.entries(files)) await writeFile(join(dir, file), content);
  await writeLock(dir, lockFiles, env);
  return dir;
}
