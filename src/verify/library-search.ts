import { dirname, posix } from 'node:path';
import type { RootFileSource } from '../env/file-source.js';
import type { LibcFamily } from '../env/fingerprint.js';
import type { LoaderCpuView } from './loader-cpu-view.js';
import { cacheLookup, type LdCacheEntry, LdCacheFormatError, parseLdCache } from '../elf/ld-so-cache.js';
import { type ElfFacts, ElfFormatError, readElf } from '../elf/read-elf.js';

/**
 * musl's loader answers these names with itself (its glibc compatibility: libc.so.6,
 * libm.so.6, libpthread.so.0, …), exactly as ldso/dynlink.c's reserved list does.
 */
export function isMuslBuiltin(name: string): boolean {
  if (!name.startsWith('lib')) return name.startsWith('ld-musl');
  return ['c.', 'pthread.', 'rt.', 'm.', 'dl.', 'util.', 'xnet.'].some((prefix) => name.startsWith(prefix, 3));
}

/** Where a library was found, in the loader's words. */
export type FoundVia = 'already loaded' | 'path' | 'DT_RPATH' | 'LD_LIBRARY_PATH' | 'DT_RUNPATH' | 'ld.so.cache' | 'default directories' | 'musl path file' | 'musl itself';

export interface FoundLibrary {
  name: string;
  path: string;
  facts: ElfFacts;
  via: FoundVia;
}

/** The search ended on a file the loader refuses outright (it does not go on to the next directory). */
export interface SearchStopped {
  name: string;
  path: string;
  /** The loader's own words, e.g. "invalid ELF header". */
  error: string;
}

export type SearchResult = FoundLibrary | SearchStopped | null;

export const isFound = (r: SearchResult): r is FoundLibrary => r !== null && 'facts' in r;

/** Finds a library for a requester, as the host's loader would (LibrarySearch; fakes in unit tests). */
export interface LibraryLookup {
  find(name: string, requester: Requester | null): Promise<SearchResult>;
}

/** musl's loader, the object that answers libc.so, libc.so.6, libm.so.6 … itself (isMuslBuiltin). */
export const findMuslLoader = (lookup: LibraryLookup, arch: string): Promise<SearchResult> => lookup.find(`ld-musl-${arch}.so.1`, null);

/** One name met while walking a closure: who asked (the chain of names down to the asker) and what was found. */
export interface NeededStep {
  name: string;
  /** The DT_NEEDED chain to the object that asked, e.g. `libouter.so.1`; empty for the start's own needs. */
  askedThrough: string;
  result: SearchResult;
}

/**
 * Walk DT_NEEDED breadth-first, as the loader loads a closure: each name once; each found object
 * asks for its own needs as requester (its RUNPATH, $ORIGIN = its directory) with the object that
 * asked for it as its loader. `preresolve` may answer a name before any search (an object already
 * loaded, musl's built-in names); `descend` says whether a found object's needs are walked too.
 */
export async function walkNeeded(
  lookup: LibraryLookup,
  start: ReadonlyArray<{ name: string; requester: Requester; askedThrough: string }>,
  options: { seen?: Set<string>; preresolve?: (name: string) => Promise<SearchResult | undefined>; descend?: (found: FoundLibrary) => boolean },
  visit: (step: NeededStep) => void,
): Promise<void> {
  const seen = options.seen ?? new Set<string>();
  const queue = [...start];
  while (queue.length > 0) {
    const { name, requester, askedThrough } = queue.shift() as (typeof queue)[number];
    if (seen.has(name)) continue;
    seen.add(name);
    const result = (await options.preresolve?.(name)) ?? (await lookup.find(name, requester));
    visit({ name, askedThrough, result });
    if (!isFound(result) || options.descend?.(result) === false) continue;
    const asker: Requester = { facts: result.facts, origin: dirname(result.path), loader: requester };
    const chain = askedThrough ? `${askedThrough} → ${name}` : name;
    for (const next of result.facts.needed) queue.push({ name: next, requester: asker, askedThrough: chain });
  }
}

/** An object that asks for a library, and the object that loaded it (for glibc's DT_RPATH chain). */
export interface Requester {
  facts: ElfFacts;
  /** The directory $ORIGIN stands for; null when it cannot be known (a copy loaded from /proc/self/fd). */
  origin: string | null;
  loader?: Requester;
}

export interface SearchSetup {
  family: LibcFamily;
  arch: string;
  /** Debian-style multiarch triplet (`x86_64-linux-gnu`) when the image uses one. */
  multiarch: string | null;
  /** LD_LIBRARY_PATH of the loading process (the image config's Env). */
  ldLibraryPath: string | null;
  /** The loading process's working directory (the image's WorkingDir): where an empty or relative search-path entry points. */
  cwd?: string;
  /** The loading program's executable (its DT_RPATH applies to glibc searches); null when unknown. */
  program: Requester | null;
  want: { class: 32 | 64; machine: string };
  /** glibc: the hwcaps subdirectories its loader searches on this CPU (from `ld.so --help`); absent or null: none. */
  cpu?: LoaderCpuView | null;
}

const MULTIARCH: Record<string, string> = { x86_64: 'x86_64-linux-gnu', aarch64: 'aarch64-linux-gnu' };

/**
 * Split a search path as the loader does. glibc (elf/dl-load.c fillin_rpath, through
 * _dl_init_paths and decompose_rpath): LD_LIBRARY_PATH on ':' and ';', DT_RPATH/DT_RUNPATH on
 * ':'; an empty entry is the directory "" — names are opened relative to the working directory.
 * musl (ldso/dynlink.c path_open): ':' and newline, empty entries skipped.
 */
function splitPath(value: string, separators: RegExp, emptyIsCwd: boolean): string[] {
  const parts = value.split(separators);
  return emptyIsCwd ? parts : parts.filter((d) => d !== '');
}

/** A directory as the loader opens names in it: relative (and empty) ones against the working directory. */
function fromCwd(dir: string, cwd: string): string {
  return dir.startsWith('/') ? dir : posix.join(cwd, dir);
}

/**
 * Expand dynamic string tokens (glibc _dl_dst_substitute; musl does $ORIGIN only). A path whose
 * token cannot be expanded (an unknown $ORIGIN) is dropped, as glibc drops it.
 */
export function expandTokens(dir: string, origin: string | null, setup: Pick<SearchSetup, 'family' | 'arch' | 'multiarch'>): string | null {
  let unknown = false;
  const lib = setup.multiarch ? `lib/${setup.multiarch}` : 'lib';
  const out = dir.replace(/\$(?:\{(ORIGIN|LIB|PLATFORM)\}|(ORIGIN|LIB|PLATFORM)(?![A-Za-z0-9_]))/g, (match, braced: string | undefined, bare: string | undefined) => {
    const token = braced ?? bare;
    if (token === 'ORIGIN') {
      if (origin === null) unknown = true;
      return origin ?? '';
    }
    if (setup.family === 'musl') return match;
    return token === 'LIB' ? lib : setup.arch;
  });
  return unknown ? null : out;
}

/**
 * Library lookup as the host's loader does it, against the image's own files.
 *
 * glibc (elf/dl-load.c, _dl_map_object): a name with '/' is opened as is. Otherwise: the
 * requester's DT_RPATH and its loaders' up the chain, then the executable's — only when the
 * requester has no DT_RUNPATH —; LD_LIBRARY_PATH; the requester's DT_RUNPATH; /etc/ld.so.cache;
 * the default directories. The last two are skipped when the requester has DF_1_NODEFLIB.
 * In a directory, a missing file or one of another ELF class or machine is passed over; a file
 * that is there but is not a valid ELF object ends the search with an error.
 *
 * musl (ldso/dynlink.c, load_library): LD_LIBRARY_PATH, then the rpath (DT_RUNPATH, else
 * DT_RPATH, $ORIGIN expanded) of the requester and up its chain, then /etc/ld-musl-ARCH.path
 * (a file present but empty means no directories) or /lib:/usr/local/lib:/usr/lib.
 */
export class LibrarySearch {
  private readonly reads = new Map<string, Promise<Buffer | 'not a file' | 'a directory' | null>>();
  private cache: Promise<LdCacheEntry[] | null> | null = null;
  private muslPath: Promise<{ dirs: string[]; via: FoundVia }> | null = null;

  constructor(
    private readonly files: RootFileSource,
    readonly setup: SearchSetup,
  ) {}

  static multiarchFor(arch: string, osId: string, idLike: readonly string[] = []): string | null {
    return osId === 'debian' || osId === 'ubuntu' || idLike.includes('debian') ? (MULTIARCH[arch] ?? null) : null;
  }

  /** glibc's system directories: Debian-family multiarch ones, else lib64 for 64-bit. */
  defaultDirectories(): string[] {
    const { multiarch, want } = this.setup;
    if (multiarch) return [`/lib/${multiarch}`, `/usr/lib/${multiarch}`, '/lib', '/usr/lib'];
    return want.class === 64 ? ['/lib64', '/usr/lib64'] : ['/lib', '/usr/lib'];
  }

  /** A file's bytes; or, where the path leads to something else, what (a loader opens it and stops there). */
  private read(path: string): Promise<Buffer | 'not a file' | 'a directory' | null> {
    let hit = this.reads.get(path);
    if (!hit) {
      const { files } = this;
      hit = files.readFinalEntry
        ? files.readFinalEntry(path).then((e) => (e === null ? null : e.type === 'file' ? e.data : e.directory ? 'a directory' : 'not a file'))
        : files.readFile(path);
      this.reads.set(path, hit);
    }
    return hit;
  }

  private async readBytes(path: string): Promise<Buffer | null> {
    const read = await this.read(path);
    return typeof read === 'string' ? null : read;
  }

  private ldCache(): Promise<LdCacheEntry[] | null> {
    this.cache ??= this.readBytes('/etc/ld.so.cache').then((bytes) => {
      if (!bytes) return null;
      try {
        return parseLdCache(bytes);
      } catch (err) {
        // The loader ignores a cache it cannot read (it then searches the default directories).
        if (err instanceof LdCacheFormatError) return null;
        throw err;
      }
    });
    return this.cache;
  }

  private muslSystemPath(): Promise<{ dirs: string[]; via: FoundVia }> {
    this.muslPath ??= this.readBytes(`/etc/ld-musl-${this.setup.arch}.path`).then((bytes) =>
      bytes === null
        ? { dirs: ['/lib', '/usr/local/lib', '/usr/lib'], via: 'default directories' as const }
        : { dirs: splitPath(bytes.toString('latin1'), /[:\n]/, false), via: 'musl path file' as const },
    );
    return this.muslPath;
  }

  /** Open one candidate: found, passed over (null), or the search stops here. */
  private async open(name: string, path: string, via: FoundVia): Promise<SearchResult | 'next'> {
    const bytes = await this.read(path);
    if (!bytes) return 'next';
    // open() succeeds on a directory and the header read fails (EISDIR): the search ends there.
    // A FIFO or a device is not read at all here: opening a FIFO would block the loader.
    if (bytes === 'a directory') return { name, path, error: 'cannot read file data: Is a directory' };
    if (bytes === 'not a file') return { name, path, error: 'not a regular file (opening it blocks or fails)' };
    let facts: ElfFacts;
    try {
      facts = readElf(bytes);
    } catch (err) {
      if (!(err instanceof ElfFormatError)) throw err;
      // glibc's open_verify: a file that is not ELF is an error, not a miss ("invalid ELF header",
      // "file too short"); musl fails in map_library the same way.
      return { name, path, error: bytes.length < 64 ? 'file too short' : 'invalid ELF header' };
    }
    if (this.setup.family === 'glibc' && (facts.class !== this.setup.want.class || facts.machine !== this.setup.want.machine)) return 'next';
    return { name, path, facts, via };
  }

  private async inDirectories(name: string, dirs: readonly string[], via: FoundVia): Promise<SearchResult | 'next'> {
    // glibc looks in each directory's glibc-hwcaps subdirectories the CPU supports, then (before
    // 2.37) its legacy hwcaps subdirectories, then the directory itself.
    const cpu = this.setup.family === 'glibc' ? this.setup.cpu : null;
    const subdirs = cpu ? [...cpu.hwcaps.map((h) => `/glibc-hwcaps/${h}`), ...cpu.legacy.map((l) => `/${l}`), ''] : [''];
    for (const dir of dirs) {
      for (const sub of subdirs) {
        const result = await this.open(name, `${dir.replace(/\/+$/, '')}${sub}/${name}`, via);
        if (result !== 'next') return result;
      }
    }
    return 'next';
  }

  private expanded(value: string | null, origin: string | null, separators = /:/): string[] {
    if (value === null) return [];
    const glibc = this.setup.family === 'glibc';
    const cwd = this.setup.cwd ?? '/';
    return splitPath(value, separators, glibc).flatMap((dir) => {
      const e = expandTokens(dir, origin, this.setup);
      // glibc drops an entry that becomes empty by expansion; an empty one as written is the working directory.
      if (e === null || (e === '' && dir !== '')) return [];
      return [fromCwd(e, cwd)];
    });
  }

  async find(name: string, requester: Requester | null): Promise<SearchResult> {
    if (name.includes('/')) {
      const direct = await this.open(name, name, 'path');
      return direct === 'next' ? null : direct;
    }
    return this.setup.family === 'musl' ? this.findMusl(name, requester) : this.findGlibc(name, requester);
  }

  private async findGlibc(name: string, requester: Requester | null): Promise<SearchResult> {
    const steps: Array<[readonly string[], FoundVia]> = [];
    if (requester && requester.facts.runpath === null) {
      for (let l: Requester | undefined = requester; l; l = l.loader) steps.push([this.expanded(l.facts.rpath, l.origin), 'DT_RPATH']);
      const program = this.setup.program;
      if (program && program.facts.runpath === null) steps.push([this.expanded(program.facts.rpath, program.origin), 'DT_RPATH']);
    }
    if (this.setup.ldLibraryPath) steps.push([this.expanded(this.setup.ldLibraryPath, null, /[:;]/), 'LD_LIBRARY_PATH']);
    if (requester) steps.push([this.expanded(requester.facts.runpath, requester.origin), 'DT_RUNPATH']);
    for (const [dirs, via] of steps) {
      const result = await this.inDirectories(name, dirs, via);
      if (result !== 'next') return result;
    }
    const nodeflib = ((requester ?? this.setup.program)?.facts.flags1 ?? 0) & 0x800;
    if (nodeflib) return null;
    const cache = await this.ldCache();
    const cached = cache ? cacheLookup(cache, name, this.setup.arch, this.setup.cpu ?? undefined) : null;
    if (cached) {
      const result = await this.open(name, cached, 'ld.so.cache');
      if (result !== 'next') return result;
    }
    const result = await this.inDirectories(name, this.defaultDirectories(), 'default directories');
    return result === 'next' ? null : result;
  }

  private async findMusl(name: string, requester: Requester | null): Promise<SearchResult> {
    const steps: Array<[readonly string[], FoundVia]> = [];
    if (this.setup.ldLibraryPath) steps.push([splitPath(this.setup.ldLibraryPath, /[:\n]/, false).map((d) => fromCwd(d, this.setup.cwd ?? '/')), 'LD_LIBRARY_PATH']);
    for (let l: Requester | undefined = requester ?? undefined; l; l = l.loader) {
      steps.push([this.expanded(l.facts.runpath ?? l.facts.rpath, l.origin), l.facts.runpath ? 'DT_RUNPATH' : 'DT_RPATH']);
    }
    const system = await this.muslSystemPath();
    steps.push([system.dirs, system.via]);
    for (const [dirs, via] of steps) {
      const result = await this.inDirectories(name, dirs, via);
      if (result !== 'next') return result;
    }
    return null;
  }
}
