import type { EnvironmentFingerprint } from '../env/fingerprint.js';
import { compareVersions } from '../elf/versions.js';
import type { FoundLibrary, LibraryLookup } from './library-search.js';
import type { ProgramScope } from './loading-program.js';
import type { BindingRules } from './symbol-binding.js';
import type { LoaderCpuView } from './loader-cpu-view.js';

/** What a prediction is about and what it says: the target (host, libraries, program), the problems, and how the loader words them. */

export type ResolvedLibrary = FoundLibrary;

export type LoadCheck = 'arch' | 'libc-family' | 'elf-header' | 'exec-stack' | 'cpu-isa' | 'missing-library' | 'symbol-version' | 'missing-symbol' | 'static-tls' | 'relocation' | 'crash';

export interface LoadProblem {
  check: LoadCheck;
  message: string;
  fix: string;
}

export interface LoadTarget {
  fingerprint: EnvironmentFingerprint;
  libraries: LibraryLookup;
  /**
   * The directory $ORIGIN names for the plugin. null for the host runtime, which loads a sealed
   * copy through /proc/self/fd/N (so $ORIGIN is /proc/self/fd, where no library lives).
   */
  pluginOrigin?: string | null;
  /** The loading program's global scope, when known: already loaded objects and their symbols. */
  scope?: ProgramScope | null;
  /** Receives what the prediction relied on beyond the plugin's own dependencies. */
  notes?: string[];
  /** glibc: what the host's loader makes of the CPU (hwcaps subdirectories, x86 ISA level); null when unknown. */
  cpu?: LoaderCpuView | null;
  /** The path the loader opens the plugin by, for quoting its messages (/app/plugins/libx.so, /proc/self/fd/N). */
  pluginPath?: string;
  /** glibc's static TLS surplus in the loading process (default STATIC_TLS_SURPLUS; GLIBC_TUNABLES can change it). */
  staticTlsSurplus?: number;
  /** Its optional part (glibc.rtld.optional_static_tls), which earlier dlopen()s' TLS descriptors may take. */
  optionalStaticTls?: number;
}

export const bindingRules = (target: LoadTarget): BindingRules => ({
  musl: target.fingerprint.libc.family === 'musl',
  versionAssert: target.fingerprint.libc.family === 'glibc' && compareVersions(target.fingerprint.libc.version, '2.41') < 0,
});

/** How the loader names an object in its messages: its path (the plugin's as the program opens it). */
export const loaderName = (what: string, target: LoadTarget) => (what === 'the plugin' ? (target.pluginPath ?? '…') : what);

const MAX_LISTED = 8;

export const list = (items: readonly string[]) =>
  items.slice(0, MAX_LISTED).join(', ') + (items.length > MAX_LISTED ? ` and ${items.length - MAX_LISTED} more` : '');
