import { lstat } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { BuilderError, describeCause, PluginLoadError } from '../errors.js';
import { bindManifest, LoadedButRefusedError, loadVerifiedPlugin } from './load-plugin.js';
import type { NativeLoader } from './native-loader.js';
import type { Sealer } from './sealer.js';

/**
 * The runtime's canary entry (`builder canary`): load plugins the way `builder host` does, in a
 * process that exists only for that, and say on stdout how each load went (the protocol of
 * src/runtime/canary-protocol.ts). A build's proof runs it in a container of the host image; the host
 * runs it in a child process before every swap. A crash here costs this process, nothing else.
 */
export type CanaryTarget =
  /** A deployed file: opened, sealed, hashed against `sha256`, loaded, its manifest bound (the proof). */
  | { kind: 'file'; name: string; path: string; sha256: string }
  /** An already sealed and hashed copy, inherited as a descriptor: loaded and bound (before a swap). */
  | { kind: 'sealed'; path: string; name: string; sha256: string; size: number };

export interface CanaryIo {
  nonce: string;
  sealer: Sealer;
  loader: NativeLoader;
  write: (line: string) => void;
}

const oneLine = (text: string) => text.replace(/[\r\n]+/g, ' ');

/** Returns whether every target loaded. Loaded code is never unloaded: the process exits after. */
export async function runCanary(targets: readonly CanaryTarget[], io: CanaryIo): Promise<boolean> {
  let all = true;
  for (const target of targets) {
    io.write(`\n${io.nonce} loading ${target.path}\n`);
    try {
      await loadTarget(target, io);
      io.write(`\n${io.nonce} loaded ${target.path}\n`);
    } catch (err) {
      all = false;
      const error = err instanceof LoadedButRefusedError ? err.error : err;
      const text = error instanceof BuilderError ? `${error.code}: ${error.message}` : `INTERNAL: ${describeCause(error)}`;
      io.write(`\n${io.nonce} failed ${target.path} ${oneLine(text)}\n`);
    }
  }
  io.write(`\n${io.nonce} done\n`);
  return all;
}

async function loadTarget(target: CanaryTarget, io: CanaryIo): Promise<void> {
  if (target.kind === 'file') {
    const info = await lstat(target.path);
    const file = basename(target.path);
    const entry = { kind: 'c' as const, file, size: info.size, sha256: target.sha256, inputsHash: '' };
    await loadVerifiedPlugin(dirname(target.path), target.name, entry, io.sealer, io.loader, new AbortController().signal);
    return;
  }
  let library;
  try {
    library = io.loader.load(target.path);
  } catch (err) {
    throw new PluginLoadError(target.name, target.path, describeCause(err));
  }
  bindManifest(target.name, { file: target.path, sha256: target.sha256, size: target.size }, library);
}
