/** A loaded shared object, as far as the host runtime needs one. */
export interface NativeLibrary {
  /** Bind a function by its C prototype, e.g. `int Add(int a, int b)`. */
  func(prototype: string): (...args: unknown[]) => unknown;
  /** Whether `name` is defined by this object itself, not by a library it depends on. */
  definedHere(name: string): boolean;
}

/** Loads shared objects (koffi in production; fakes in unit tests). */
export interface NativeLoader {
  load(path: string): NativeLibrary;
}
