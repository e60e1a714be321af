/**
 * A bound native function. `inWorker`, where the loader has one, makes the same call on a
 * worker thread: the caller's thread (the host's event loop) stays free while it runs.
 */
export type NativeFunction = ((...args: unknown[]) => unknown) & { inWorker?: (...args: unknown[]) => Promise<unknown> };

/** A loaded shared object, as far as the host runtime needs one. */
export interface NativeLibrary {
  /** Bind a function by its C prototype, e.g. `int Add(int a, int b)`. */
  func(prototype: string): NativeFunction;
  /** Whether `name` is defined by this object itself, not by a library it depends on. */
  definedHere(name: string): boolean;
}

/** Loads shared objects (koffi in production; fakes in unit tests). */
export interface NativeLoader {
  load(path: string): NativeLibrary;
}
