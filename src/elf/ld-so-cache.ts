/**
 * glibc's /etc/ld.so.cache, read the way elf/dl-cache.c reads it (sysdeps/generic/dl-cache.h).
 * Two layouts exist: the new one alone ("glibc-ld.so.cache1.1", written by ldconfig since glibc
 * 2.32), and the compat one (old "ld.so-1.7.0" table, then the new table at the next 8-byte
 * boundary). The loader uses the new table whenever there is one; string offsets are relative
 * to the new header (new table) or to the end of the old entries (old table alone).
 */

const OLD_MAGIC = 'ld.so-1.7.0';
const NEW_MAGIC = 'glibc-ld.so.cache1.1';
const OLD_ENTRY = 12;
const NEW_HEADER = 48;
const NEW_ENTRY = 24;

/** ldconfig's flags (sysdeps/generic/ldconfig.h): the low byte is the type, the next the architecture. */
export const FLAG_ELF_LIBC6 = 0x0003;
const ARCH_FLAGS: Record<string, number> = { x86_64: 0x0300, aarch64: 0x0a00 };

export class LdCacheFormatError extends Error {}

export interface LdCacheEntry {
  flags: number;
  /** The soname a lookup matches. */
  key: string;
  /** The path the loader opens. */
  path: string;
  hwcap: bigint;
}

function cString(bytes: Uint8Array, offset: number): string {
  if (offset < 0 || offset >= bytes.length) throw new LdCacheFormatError(`string offset ${offset} outside the file`);
  const end = bytes.indexOf(0, offset);
  if (end < 0) throw new LdCacheFormatError(`unterminated string at ${offset}`);
  return Buffer.from(bytes.buffer, bytes.byteOffset + offset, end - offset).toString('latin1');
}

const startsWith = (bytes: Uint8Array, at: number, magic: string) =>
  bytes.length >= at + magic.length && Buffer.from(bytes.buffer, bytes.byteOffset + at, magic.length).toString('latin1') === magic;

export function parseLdCache(bytes: Uint8Array): LdCacheEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let newAt: number | null = null;
  let old: { count: number; end: number } | null = null;
  if (startsWith(bytes, 0, NEW_MAGIC)) newAt = 0;
  else if (startsWith(bytes, 0, OLD_MAGIC)) {
    if (bytes.length < 16) throw new LdCacheFormatError('truncated header');
    const count = view.getUint32(12, true);
    const end = 16 + count * OLD_ENTRY;
    if (end > bytes.length) throw new LdCacheFormatError(`${count} entries do not fit in ${bytes.length} bytes`);
    old = { count, end };
    const aligned = (end + 7) & ~7;
    if (startsWith(bytes, aligned, NEW_MAGIC)) newAt = aligned;
  } else {
    throw new LdCacheFormatError('not an ld.so.cache (no known magic)');
  }

  const entries: LdCacheEntry[] = [];
  if (newAt !== null) {
    if (bytes.length < newAt + NEW_HEADER) throw new LdCacheFormatError('truncated header');
    // Byte 28 records the writer's endianness since 2.33 (low bits: 0 unset, 1 invalid, 2 little, 3 big).
    const little = (view.getUint8(newAt + 28) & 3) !== 3;
    const count = view.getUint32(newAt + 20, little);
    if (newAt + NEW_HEADER + count * NEW_ENTRY > bytes.length) throw new LdCacheFormatError(`${count} entries do not fit in ${bytes.length} bytes`);
    for (let i = 0; i < count; i++) {
      const at = newAt + NEW_HEADER + i * NEW_ENTRY;
      entries.push({
        flags: view.getInt32(at, little),
        key: cString(bytes, newAt + view.getUint32(at + 4, little)),
        path: cString(bytes, newAt + view.getUint32(at + 8, little)),
        hwcap: view.getBigUint64(at + 16, little),
      });
    }
    return entries;
  }
  const { count, end } = old as { count: number; end: number };
  for (let i = 0; i < count; i++) {
    const at = 16 + i * OLD_ENTRY;
    entries.push({
      flags: view.getInt32(at, true),
      key: cString(bytes, end + view.getUint32(at + 4, true)),
      path: cString(bytes, end + view.getUint32(at + 8, true)),
      hwcap: 0n,
    });
  }
  return entries;
}

// The hwcap field of a glibc-hwcaps entry carries this bit (DL_CACHE_HWCAP_EXTENSION) and an
// index into the cache's hwcaps names; its path names the subdirectory too.
const HWCAP_EXTENSION = 1n << 62n;

/** The subdirectories the host's loader searches on this CPU (see LoaderCpuView). */
export interface CacheSubdirectories {
  hwcaps: readonly string[];
  legacy: readonly string[];
}

/**
 * The path the loader takes from the cache for `soname` on `arch`, among the entries whose flags
 * are the architecture's default (or plain ELF = 1), as _dl_cache_check_flags does: the
 * glibc-hwcaps entry of the most preferred subdirectory this CPU has, then a legacy hwcaps entry
 * (glibc < 2.37) in search order, then the baseline entry. Entries for subdirectories the CPU
 * lacks are passed over.
 */
export function cacheLookup(entries: readonly LdCacheEntry[], soname: string, arch: string, subdirs: CacheSubdirectories = { hwcaps: [], legacy: [] }): string | null {
  const wanted = FLAG_ELF_LIBC6 | (ARCH_FLAGS[arch] ?? 0);
  let best: { rank: number; path: string } | null = null;
  for (const entry of entries) {
    if (entry.key !== soname || (entry.flags !== 1 && entry.flags !== wanted)) continue;
    let rank: number;
    if (entry.hwcap === 0n) rank = Number.MAX_SAFE_INTEGER;
    else if ((entry.hwcap & HWCAP_EXTENSION) !== 0n) {
      rank = subdirs.hwcaps.indexOf(/\/glibc-hwcaps\/([^/]+)\/[^/]+$/.exec(entry.path)?.[1] ?? '');
    } else {
      const dir = entry.path.slice(0, entry.path.lastIndexOf('/'));
      const legacy = subdirs.legacy.findIndex((sub) => dir.endsWith(`/${sub}`));
      rank = legacy < 0 ? -1 : subdirs.hwcaps.length + legacy;
    }
    if (rank >= 0 && (!best || rank < best.rank)) best = { rank, path: entry.path };
  }
  return best?.path ?? null;
}
