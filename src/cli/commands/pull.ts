import { chmod, cp, mkdir, readdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { BuilderError } from '../../errors.js';
import { DEFAULT_STORE_BYTES } from '../../limits.js';
import type { CliIo } from '../io.js';
import { collectValues, positiveInteger, secondsOption } from '../option-values.js';
import type { CommandResult } from '../run-command.js';

interface PullOptions {
  dir?: string;
  store?: string;
  storeMaxBytes: string;
  platform?: string;
  trustKey: string[];
  trustDir: string[];
  allowTag?: boolean;
  plainHttp?: boolean;
  timeout: string;
  json?: boolean;
}

/** Where pulled sets are kept by default: the user's cache (XDG). */
export function defaultStore(env: NodeJS.ProcessEnv): string {
  return join(env.XDG_CACHE_HOME || join(env.HOME || '/tmp', '.cache'), 'plugin-builder', 'store');
}

/** Copy a laid-out set to `target` whole: into a sibling temp directory, then renamed (the target must not exist or be empty). */
async function copySetTo(from: string, target: string): Promise<void> {
  const present = await readdir(target).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? null : Promise.reject(err)));
  if (present && present.length > 0) throw new BuilderError('FILE_EXISTS', `${target} is not empty; a pulled set is written only into a new or empty directory.`, { fix: 'Choose another --dir, or remove that one.' });
  const temp = join(dirname(target), `.${basename(target)}.pull-${process.pid}`);
  await rm(temp, { recursive: true, force: true });
  try {
    await mkdir(dirname(target), { recursive: true });
    await cp(from, temp, { recursive: true, filter: (src) => basename(src) !== '.set.json' });
    // The store keeps its sets read-only; the copy is the user's (and renamed only while writable).
    await chmod(temp, 0o755);
    for (const entry of await readdir(temp, { withFileTypes: true })) if (entry.isDirectory()) await chmod(join(temp, entry.name), 0o755);
    if (present) await rm(target, { recursive: true });
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { recursive: true, force: true });
    if (err instanceof BuilderError) throw err;
    throw new BuilderError('WRITE_FAILED', `${target} could not be written: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; nothing was left there.`, { cause: err });
  }
}

export function registerPull(program: Command, io: CliIo, run: (action: () => Promise<CommandResult>, json: boolean) => Promise<void>): void {
  program
    .command('pull <ref>')
    .description('fetch a published plugin set by digest, checked blob by blob and (with trusted keys) by signature, into the store and --dir')
    .option('--dir <dir>', 'also write the set here as a plugin directory (new or empty)')
    .option('--store <dir>', 'the local content-addressed store (default: $XDG_CACHE_HOME/plugin-builder/store)')
    .option('--store-max-bytes <n>', 'collect the least recently used sets above this size', String(DEFAULT_STORE_BYTES))
    .option('--platform <os/arch>', "only this platform's part of a multi-platform set (default: all)")
    .option('--trust-key <pub>', 'require a signature by this key before any plugin is fetched (repeatable)', collectValues, [])
    .option('--trust-dir <dir>', 'trust every *.pub in this directory (repeatable)', collectValues, [])
    .option('--allow-tag', 'accept a tag, resolved once to a digest (printed)')
    .option('--plain-http', 'speak plain HTTP to a registry that is not on loopback')
    .option('--timeout <seconds>', 'give up the whole pull after this', '600')
    .option('--json', 'print one JSON object with an "outcome"')
    .action((refText: string, options: PullOptions) =>
      run(async () => {
        const { readReference } = await import('../../runtime/registry-source.js');
        const { createRegistryClient, PluginStore, pullSet } = await import('../../registry/index.js');
        const { loadTrustedKeys } = await import('../../runtime/trust-store.js');
        const { PLATFORM_PATTERN } = await import('../../lock/platform.js');
        const { printable } = await import('../../util/printable.js');
        if (options.platform !== undefined && !PLATFORM_PATTERN.test(options.platform)) throw new BuilderError('BAD_OPTION', `--platform must be like linux/amd64, got "${options.platform}"`);
        const timeoutMs = secondsOption(options.timeout, '--timeout');
        const maxBytes = positiveInteger(options.storeMaxBytes, '--store-max-bytes');
        const ref = readReference(refText);
        const trustedKeys = await loadTrustedKeys(options.trustKey.map((k) => resolve(io.cwd, k)), options.trustDir.map((d) => resolve(io.cwd, d)));
        const storeDir = resolve(io.cwd, options.store ?? defaultStore(io.env));
        const store = await PluginStore.open(storeDir, maxBytes);
        try {
          const pulled = await pullSet(createRegistryClient(ref, { ...(options.plainHttp ? { plainHttp: true } : {}) }), store, {
            ref,
            platform: options.platform ?? null,
            trustedKeys,
            allowTag: options.allowTag === true,
            log: (level, message) => io.stderr(`${level === 'warn' ? 'WARN ' : ''}${printable(message)}\n`),
            signal: AbortSignal.timeout(timeoutMs),
          });
          const dir = options.dir ? resolve(io.cwd, options.dir) : null;
          if (dir) await copySetTo(pulled.dir, dir);
          const text = [
            `Pulled ${pulled.pinned}`,
            `signed by ${pulled.signedBy.length ? pulled.signedBy.join(', ') : 'nobody checked (no --trust-key): the signature is checked by the host that loads it'}`,
            `fetched   ${pulled.fetched} blob(s), ${pulled.fetchedBytes} bytes; the rest from the store`,
            `store     ${pulled.dir}`,
            ...(dir ? [`dir       ${dir}`] : []),
          ];
          return { json: { outcome: 'pulled', ref: pulled.pinned, digest: pulled.digest, signedBy: pulled.signedBy, fetched: pulled.fetched, fetchedBytes: pulled.fetchedBytes, store: pulled.dir, dir }, text: text.join('\n') + '\n', exitCode: 0 };
        } finally {
          await store.close();
        }
      }, options.json === true),
    );
}
