/** The lockfile's record of a shard; the shard logic (src/shard/) builds on it. */

/** Shard K of N (1-based), as CI matrices count. */
export interface Shard {
  index: number;
  count: number;
}

/** What a shard's lockfile records so a merge can prove the shards are all there and from one plan. */
export interface ShardRecord extends Shard {
  /** Every plugin of the project, sorted: the plan the shards divide. */
  plugins: string[];
}
