import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tarStream from 'tar-stream';
import { BuilderError } from '../errors.js';

/**
 * The compiler cache's archive (Docker's archive of the cache directory: `cache/`, `cache/ccache/…`,
 * `cache/go/…`), re-packed entry by entry so only what a compiler cache consists of gets through.
 * The cache comes from a registry on the way in and from whatever a plugin's build wrote into the
 * volume on the way out, so two rules:
 * - a symlink, hard link, device or FIFO could make the next compile read or write outside the
 *   cache: any of them fails the whole archive (the stream errors with CacheArchiveError);
 * - a cache is data, never configuration or code: only the data files ccache and Go write
 *   (`isCacheData`) pass, as 0644 files in 0755 directories owned by root. Anything else —
 *   `ccache.conf` (whose `prefix_command` ccache would run), an executable, a file of a shape
 *   neither tool writes — is left out and counted.
 */

/** A BuilderError so that it passes through the engine layer as what it is, not as a lost connection. */
export class CacheArchiveError extends BuilderError {
  constructor(
    readonly entry: string,
    readonly problem: string,
  ) {
    super('COMPILER_CACHE_REFUSED', `${JSON.stringify(entry)}: ${problem}`);
  }
}

export interface CacheArchiveLimits {
  /** The top directory every entry must sit in (`cache`). */
  top: string;
  /** The most bytes of file content accepted in all. */
  maxBytes: number;
  /** The most entries accepted. */
  maxEntries: number;
}

export interface CacheArchiveSummary {
  files: number;
  bytes: number;
  /** Entries left out: not a data file of ccache or Go (the first few names in `skippedNames`). */
  skipped: number;
  skippedNames: string[];
}

const HEX1 = /^[0-9a-f]$/;
const HEX2 = /^[0-9a-f]{2}$/;
/** ccache 4: `<digest>R` (result) and `<digest>M` (manifest), the digest in base32hex; `stats` per directory. */
const CCACHE_FILE = /^(?:[0-9a-v]{10,}[RM]|stats)$/;
/** Go's GOCACHE (cmd/go/internal/cache): `<2 hex>/<64 hex>-a` (action) and `-d` (output). */
const GO_FILE = /^[0-9a-f]{64}-[ad]$/;

/**
 * Whether a path inside the top directory (`ccache/0/1/…R`, `go/ab/…-d`, without `cache/`) is
 * one of the data files or directories ccache and Go's build cache are made of.
 */
export function isCacheData(parts: readonly string[], type: 'file' | 'directory'): boolean {
  const [tool, ...rest] = parts;
  if (type === 'directory') {
    if (tool === undefined) return true;
    if (tool === 'ccache') return rest.length <= 8 && rest.every((p) => HEX1.test(p));
    if (tool === 'go') return rest.length === 0 || (rest.length === 1 && HEX2.test(rest[0]!));
    return false;
  }
  const name = rest[rest.length - 1];
  if (name === undefined) return false;
  const dirs = rest.slice(0, -1);
  if (tool === 'ccache') return dirs.length >= 1 && dirs.length <= 8 && dirs.every((p) => HEX1.test(p)) && CCACHE_FILE.test(name);
  if (tool === 'go') return (dirs.length === 1 && HEX2.test(dirs[0]!) && GO_FILE.test(name)) || (dirs.length === 0 && (name === 'README' || name === 'trim.txt'));
  return false;
}

const MAX_SKIPPED_NAMES = 8;

/** Why this header may not pass, or null. Pure: the rules, apart from the streaming. */
export function cacheEntryProblem(header: Pick<tarStream.Header, 'name' | 'type'>, top: string): string | null {
  const { name, type } = header;
  if (name.startsWith('/')) return 'an absolute path';
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) return 'a path with ..';
  if (parts[0] !== top) return `not inside ${top}/`;
  if (name.includes('\0')) return 'a name with a NUL byte';
  if (type === 'directory') return null;
  if (type === 'file' || type === 'contiguous-file') return parts.length > 1 ? null : `a file where the ${top}/ directory should be`;
  return `a ${type ?? 'typeless'} entry (only directories and regular files)`;
}

/**
 * Re-pack `tar` through the rules above. The returned stream errors (and `tar` is destroyed) at
 * the first entry that breaks them or past a limit; `done` settles with what passed.
 */
export function filterCacheArchive(tar: Readable, limits: CacheArchiveLimits): { stream: Readable; done: Promise<CacheArchiveSummary> } {
  const extract = tarStream.extract();
  const pack = tarStream.pack();
  const out = new PassThrough();
  const done = (async (): Promise<CacheArchiveSummary> => {
    let files = 0;
    let bytes = 0;
    let entries = 0;
    let skipped = 0;
    const skippedNames: string[] = [];
    tar.on('error', (err) => extract.destroy(err));
    tar.pipe(extract);
    const packed = pipeline(pack as unknown as Readable, out);
    // Awaited below; on an early failure `out` is destroyed and this rejection is expected.
    packed.catch(() => undefined);
    for await (const entry of extract) {
      const header = entry.header;
      const problem = cacheEntryProblem(header, limits.top);
      if (problem) throw new CacheArchiveError(header.name, problem);
      if (++entries > limits.maxEntries) throw new CacheArchiveError(header.name, `more than ${limits.maxEntries} entries`);
      const isFile = header.type !== 'directory';
      const parts = header.name.split('/').filter((p) => p !== '' && p !== '.').slice(1);
      if (!isCacheData(parts, isFile ? 'file' : 'directory')) {
        skipped++;
        if (skippedNames.length < MAX_SKIPPED_NAMES) skippedNames.push(header.name);
        entry.resume();
        continue;
      }
      const size = isFile ? (header.size ?? 0) : 0;
      bytes += size;
      if (bytes > limits.maxBytes) throw new CacheArchiveError(header.name, `more than ${limits.maxBytes} bytes in all`);
      const clean: tarStream.Header = {
        name: header.name,
        type: isFile ? 'file' : 'directory',
        size,
        mode: isFile ? 0o644 : 0o755,
        mtime: header.mtime ?? new Date(0),
        uid: 0,
        gid: 0,
        linkname: '',
        uname: '',
        gname: '',
        devmajor: 0,
        devminor: 0,
      };
      // The header's size is what the entry claims; pack checks that exactly that many bytes come.
      await pipeline(entry as unknown as Readable, pack.entry(clean) as unknown as NodeJS.WritableStream);
      if (isFile) files++;
    }
    pack.finalize();
    await packed;
    return { files, bytes, skipped, skippedNames };
  })();
  done.catch((err: unknown) => {
    tar.destroy();
    extract.destroy();
    out.destroy(err as Error);
  });
  return { stream: out, done };
}
