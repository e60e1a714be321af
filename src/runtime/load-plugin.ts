import { join } from 'node:path';
import { BadManifestError, BuilderError, describeCause, HashMismatchError, PluginLoadError } from '../errors.js';
import type { LockedPlugin } from '../lock/lockfile.js';
import { openRegularFile } from '../util/safe-file.js';
import { MANIFEST_PROTOTYPE, MANIFEST_SYMBOL, type PluginManifest, parseManifest } from './manifest.js';
import type { NativeFunction, NativeLibrary, NativeLoader } from './native-loader.js';
import type { Canary } from './child-canary.js';
import type { Sealer } from './sealer.js';

export interface LoadedPlugin {
  name: string;
  file: string;
  sha256: string;
  size: number;
  manifest: PluginManifest;
  functions: Map<string, NativeFunction>;
}

/** Thrown after dlopen succeeded: the library stays mapped, so its version must never be retried. */
export class LoadedButRefusedError extends Error {
  constructor(readonly error: BuilderError) {
    super(error.message);
  }
}

/**
 * One plugin, verified then loaded: open the deployed file without following links or
 * blocking (regular file, locked size, checked on the handle), make a sealed private copy, hash
 * the sealed bytes, load the copy in a canary process first (when given), dlopen the copy, bind
 * the manifest's checked prototypes.
 */
export async function loadVerifiedPlugin(dir: string, name: string, entry: LockedPlugin, sealer: Sealer, loader: NativeLoader, signal: AbortSignal, canary?: Canary): Promise<LoadedPlugin> {
  const { handle } = await openRegularFile(join(dir, entry.file), `Plugin "${name}":`, { exactSize: entry.size });
  let sealed;
  try {
    signal.throwIfAborted();
    sealed = await sealer.seal(handle, entry.size, name, signal);
  } finally {
    await handle.close();
  }
  let library: NativeLibrary;
  try {
    const actual = await sealed.sha256(signal);
    if (actual !== entry.sha256) throw new HashMismatchError(name, entry.file, entry.sha256, actual);
    signal.throwIfAborted();
    // The same sealed bytes, loaded first where a crash costs a throwaway process.
    await canary?.check(sealed, { name, file: entry.file, sha256: entry.sha256, size: entry.size }, signal);
    try {
      library = loader.load(sealed.path);
    } catch (err) {
      throw new PluginLoadError(name, entry.file, describeCause(err));
    }
  } catch (err) {
    await sealed.release();
    throw err;
  }
  // From here the copy is mapped and is never released or loaded again.
  try {
    return bindManifest(name, entry, library);
  } catch (err) {
    throw new LoadedButRefusedError(err instanceof BuilderError ? err : new BadManifestError(name, describeCause(err)));
  }
}

/** Read and check the plugin's manifest, bind every function it declares (what "registered" means for a C plugin). */
export function bindManifest(name: string, entry: Pick<LockedPlugin, 'file' | 'sha256' | 'size'>, library: NativeLibrary): LoadedPlugin {
  let manifestText: unknown;
  try {
    if (!library.definedHere(MANIFEST_SYMBOL)) throw new Error(`${MANIFEST_SYMBOL} is not defined in this plugin`);
    manifestText = library.func(MANIFEST_PROTOTYPE)();
  } catch (err) {
    throw new BadManifestError(name, `cannot call ${MANIFEST_PROTOTYPE}: ${describeCause(err)}`);
  }
  const manifest = parseManifest(manifestText, name);
  const functions = new Map<string, NativeFunction>();
  for (const [fn, prototype] of manifest.functions) {
    if (!library.definedHere(fn)) throw new BadManifestError(name, `"${fn}" is not a function of this plugin (it is not defined in it, or only by a library it loads)`);
    try {
      functions.set(fn, library.func(prototype.canonical));
    } catch (err) {
      throw new BadManifestError(name, `cannot bind "${prototype.canonical}": ${describeCause(err)}`);
    }
  }
  return { name, file: entry.file, sha256: entry.sha256, size: entry.size, manifest, functions };
}
