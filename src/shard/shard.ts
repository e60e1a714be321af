import { BuilderError } from '../errors.js';
import type { Shard } from '../lock/shard-record.js';

export type { Shard, ShardRecord } from '../lock/shard-record.js';

/** `K/N` with 1 ≤ K ≤ N ≤ 1000 (a matrix beyond that is a typo). */
export function parseShard(value: string): Shard {
  const m = /^([1-9][0-9]{0,3})\/([1-9][0-9]{0,3})$/.exec(value);
  const index = Number(m?.[1]);
  const count = Number(m?.[2]);
  if (!m || index > count || count > 1000) {
    throw new BuilderError('BAD_OPTION', `--shard must be K/N with 1 ≤ K ≤ N ≤ 1000, got "${value}".`, {
      fix: 'Pass the matrix position, e.g. --shard 2/3 (GitHub Actions: ${{ matrix.shard }}/3; GitLab CI: $CI_NODE_INDEX/$CI_NODE_TOTAL).',
    });
  }
  return { index, count };
}

/**
 * The plugins shard K builds: names sorted by code point, dealt round-robin. Every plugin lands
 * in exactly one shard, the shards differ in size by at most one, and the split depends only on
 * the names — never on the machine, the order of the config or the locale.
 */
export function pluginsOfShard(names: readonly string[], shard: Shard): string[] {
  return sortedNames(names).filter((_, i) => i % shard.count === shard.index - 1);
}

export function sortedNames(names: readonly string[]): string[] {
  return [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
