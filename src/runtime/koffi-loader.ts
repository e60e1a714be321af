import type { NativeLibrary, NativeLoader } from './native-loader.js';

/**
 * The only koffi import, loaded lazily: tools that never load a plugin (builder build) must
 * not need koffi's native binary.
 */
export async function createKoffiLoader(): Promise<NativeLoader> {
  const koffi = (await import('koffi')).default;
  return {
    load(path: string): NativeLibrary {
      const lib = koffi.load(path);
      return { func: (prototype: string) => lib.func(prototype) as (...args: unknown[]) => unknown };
    },
  };
}
