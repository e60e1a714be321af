import type { TlsBlock } from '../elf/read-elf.js';
import { envValue } from '../env/env-value.js';

/**
 * glibc's static TLS: the startup objects' blocks are laid out first (_dl_determine_tlsoffset),
 * then a fixed surplus is left for dlopen()ed objects that use initial-exec TLS. With default
 * tunables (glibc.rtld.nns 4, glibc.rtld.optional_static_tls 512) the surplus is
 * 288 × 4 + 512 = 1664 bytes in 2.36 and 2.41 (elf/dl-tls.c, _dl_tls_static_surplus_init).
 */
export const STATIC_TLS_SURPLUS = 1664;

const DL_NNS = 16;

/**
 * The surplus under the image's GLIBC_TUNABLES (glibc.rtld.nns, glibc.rtld.optional_static_tls):
 * 144 × (nns − 1) for libc's IE TLS per namespace, 144 × nns for others', the optional part,
 * and 144 of legacy slack — 288 × nns + optional.
 */
export function staticTlsSurplus(env: readonly string[]): { surplus: number; optional: number } {
  const tunables = envValue(env, 'GLIBC_TUNABLES') ?? '';
  const value = (name: string) => {
    const raw = tunables.split(':').find((t) => t.startsWith(`${name}=`))?.slice(name.length + 1);
    return raw !== undefined && /^\d{1,9}$/.test(raw) ? Number(raw) : null;
  };
  const nns = Math.min(DL_NNS, Math.max(1, value('glibc.rtld.nns') ?? 4));
  const optional = value('glibc.rtld.optional_static_tls') ?? 512;
  return { surplus: 288 * nns + optional, optional };
}

/** glibc's default glibc.rtld.optional_static_tls: what TLS descriptors of dlopen()ed objects may take of the surplus. */
export const OPTIONAL_STATIC_TLS = 512;

const roundUp = (n: number, to: number) => Math.ceil(n / to) * to;

/** The layout rules of the two TLS variants glibc has. */
interface Variant {
  tcbAlign: number;
  /** Offset of the first startup block. */
  start: number;
  /** Place a block after `used`; returns the new `used`. */
  place(used: number, block: TlsBlock): number;
  /** Does the block fit below `limit` when placed after `used`? */
  fits(used: number, block: TlsBlock, limit: number): boolean;
  /** The most bytes a block of this alignment and first-byte offset could have after `used` (its alignment padding taken out). */
  room(used: number, block: TlsBlock, limit: number): number;
}

// x86: the thread pointer is at the top (TLS_TCB_AT_TP); blocks grow downwards from it.
const TCB_AT_TP: Variant = {
  tcbAlign: 64,
  start: 0,
  place: (used, b) => roundUp(used + b.memsz + b.firstByteOffset, b.align) - b.firstByteOffset,
  fits: (used, b, limit) => used + b.memsz + b.firstByteOffset <= limit,
  room: (used, b, limit) => limit - used - b.firstByteOffset,
};

// aarch64 and most others: the TCB (16 bytes) comes first (TLS_DTV_AT_TP); blocks grow upwards.
const DTV_AT_TP: Variant = {
  tcbAlign: 32,
  start: 16,
  place: (used, b) => roundUp(used - b.firstByteOffset, b.align) + b.firstByteOffset + b.memsz,
  fits: (used, b, limit) => roundUp(used - b.firstByteOffset, b.align) + b.firstByteOffset + b.memsz <= limit,
  room: (used, b, limit) => limit - (roundUp(used - b.firstByteOffset, b.align) + b.firstByteOffset),
};

const VARIANTS: Record<string, Variant> = { x86_64: TCB_AT_TP, i386: TCB_AT_TP, aarch64: DTV_AT_TP, riscv64: DTV_AT_TP, ppc64: DTV_AT_TP, arm: DTV_AT_TP };

// glibc ≥ 2.41 reserves the rseq area as an extra static TLS block after the startup objects
// (32 bytes, 32-aligned with the kernels of these machines).
const RSEQ_BLOCK: TlsBlock = { memsz: 32, align: 32, firstByteOffset: 0 };

export interface StaticTlsRequest {
  machine: string;
  /** glibc ≥ 2.41 (the rseq block). */
  withRseq: boolean;
  /** The TLS blocks of the objects loaded at program start, in module order (executable first). */
  startup: readonly TlsBlock[];
  /** The surplus (STATIC_TLS_SURPLUS unless the image's tunables change it). */
  surplus: number;
  /**
   * Blocks of objects dlopen()ed before the plugin whose TLS descriptors glibc placed in static
   * TLS opportunistically (TRY_STATIC_TLS → _dl_try_allocate_static_tls(map, optional=true)):
   * each one that fits the surplus and what is left of `optional` takes its place there.
   */
  earlierOptional?: readonly TlsBlock[];
  /** glibc.rtld.optional_static_tls (OPTIONAL_STATIC_TLS by default). */
  optional?: number;
  /** The blocks a dlopen() must place in static TLS, in relocation order. */
  wanted: ReadonlyArray<{ path: string; block: TlsBlock }>;
}

/**
 * Which of `wanted` does not fit (the loader's "cannot allocate memory in static TLS block"), and
 * how many bytes were free for it. null when the architecture's layout is not modelled.
 */
export function staticTlsShortfall(request: StaticTlsRequest): { path: string; needs: number; free: number } | null | 'fits' {
  const variant = VARIANTS[request.machine];
  if (!variant) return null;
  let maxAlign = variant.tcbAlign;
  let used = variant.start;
  for (const block of [...request.startup, ...(request.withRseq ? [RSEQ_BLOCK] : [])]) {
    used = variant.place(used, block);
    maxAlign = Math.max(maxAlign, block.align);
  }
  const limit = roundUp(used + request.surplus, maxAlign);
  let optionalLeft = request.optional ?? OPTIONAL_STATIC_TLS;
  for (const block of request.earlierOptional ?? []) {
    if (block.align > maxAlign || !variant.fits(used, block, limit)) continue;
    const after = variant.place(used, block);
    if (after - used > optionalLeft) continue;
    optionalLeft -= after - used;
    used = after;
  }
  for (const { path, block } of request.wanted) {
    if (block.align > maxAlign || !variant.fits(used, block, limit)) return { path, needs: block.memsz, free: Math.max(0, variant.room(used, block, limit)) };
    used = variant.place(used, block);
  }
  return 'fits';
}
