import { BuilderError } from '../errors.js';
import { isMultiPlatform, type LockDocument, LOCKFILE_VERSION, type Lockfile, type PlatformLock, platformView, platformViews } from '../lock/lockfile.js';
import { canonicalJson } from '../util/canonical-json.js';
import { jsonDifferences } from '../util/json-diff.js';
import { pluginsOfShard } from './shard.js';

export interface ShardLockfile {
  /** Where it was read, for messages. */
  source: string;
  lock: Lockfile;
}

const refuse = (message: string, fix: string): never => {
  throw new BuilderError('LOCK_MERGE_REFUSED', message, { fix });
};

/**
 * Merge the lockfiles of shards 1…N of one build into the lockfile a single machine would have
 * written: every shard present once, all from the same plan (plugin list and shard count), all
 * built against the same host and in the same builder image (byte-equal environment sections),
 * each holding exactly its own plugins. Pure: lockfiles in, lockfile out, or a refusal naming
 * the culprit.
 */
export function mergeShardLockfiles(shards: readonly ShardLockfile[], configPlugins?: readonly string[]): Lockfile {
  const fixAll = 'Pass the lockfiles of every shard of one run (builder build --shard K/N), each once.';
  if (shards.length === 0) refuse('No lockfiles to merge.', fixAll);
  const records = shards.map(({ source, lock }) => {
    if (!lock.shard) refuse(`${source} is not a shard's lockfile (it has no "shard" field): it was written by a build without --shard.`, fixAll);
    const twice = lock.shard!.plugins.find((name, i, all) => all.indexOf(name) !== i);
    if (twice !== undefined) refuse(`${source} divides a plugin list that names ${JSON.stringify(twice)} twice: no build writes that.`, 'Rebuild the shards; do not edit shard lockfiles.');
    return { source, lock, shard: lock.shard! };
  });
  const [first] = records as [(typeof records)[number]];
  if (configPlugins && canonicalJson([...configPlugins].sort()) !== canonicalJson([...first.shard.plugins].sort())) {
    const extra = first.shard.plugins.filter((n) => !configPlugins.includes(n));
    const absent = configPlugins.filter((n) => !first.shard.plugins.includes(n));
    refuse(
      `The shards divide another plugin list than the config's:${extra.length ? ` not in the config: ${extra.join(', ')};` : ''}${absent.length ? ` in the config but in no shard: ${absent.join(', ')};` : ''} they were built from another config.`,
      'Build the shards from this config (builder build --shard K/N -c CONFIG), or merge with the config they were built from.',
    );
  }
  const count = first.shard.count;
  const seen = new Map<number, string>();
  for (const { source, shard } of records) {
    if (shard.count !== count) refuse(`${source} is shard ${shard.index}/${shard.count}, ${first.source} is shard ${first.shard.index}/${count}: different splits.`, fixAll);
    const other = seen.get(shard.index);
    if (other !== undefined) refuse(`Shard ${shard.index}/${count} is given twice: ${other} and ${source}.`, fixAll);
    seen.set(shard.index, source);
    if (canonicalJson(shard.plugins) !== canonicalJson(first.shard.plugins)) {
      refuse(`${source} and ${first.source} divide different plugin lists (${shard.plugins.length} vs ${first.shard.plugins.length} plugins): they come from different configs.`, fixAll);
    }
  }
  const missing = Array.from({ length: count }, (_, i) => i + 1).filter((k) => !seen.has(k));
  if (missing.length > 0) refuse(`Shard${missing.length > 1 ? 's' : ''} ${missing.map((k) => `${k}/${count}`).join(', ')} missing: the merged lockfile would lack ${missing.flatMap((k) => pluginsOfShard(first.shard.plugins, { index: k, count })).join(', ') || 'nothing, but the set is incomplete'}.`, fixAll);

  const environment = (lock: Lockfile) => ({ lockfileVersion: lock.lockfileVersion, host: lock.host, builder: lock.builder });
  for (const { source, lock } of records.slice(1)) {
    const diff = jsonDifferences(environment(first.lock), environment(lock));
    if (diff.length > 0) {
      refuse(
        `${source} was built for another environment than ${first.source}:\n${diff.map((d) => `  ${d}`).join('\n')}`,
        'Shards must build against the same host image and in the same builder image: pin host.image by digest (or pull it first), and give every shard the builder image of one machine (`builder prepare --cache-to REPO`, then `builder build --cache-from REPO --shard K/N`).',
      );
    }
  }

  const plugins: Lockfile['plugins'] = Object.create(null) as Lockfile['plugins'];
  for (const { source, lock, shard } of records) {
    const expected = pluginsOfShard(shard.plugins, shard);
    const actual = Object.keys(lock.plugins).sort();
    if (canonicalJson([...expected].sort()) !== canonicalJson(actual)) {
      refuse(`${source} (shard ${shard.index}/${count}) holds ${actual.join(', ') || 'no plugins'}; that shard is ${expected.join(', ') || 'no plugins'}.`, 'Rebuild that shard; do not edit shard lockfiles.');
    }
    for (const name of actual) {
      if (Object.hasOwn(plugins, name)) refuse(`${name} is in two shards' lockfiles (the second: ${source}).`, 'Rebuild the shards; do not edit shard lockfiles.');
      plugins[name] = lock.plugins[name]!;
    }
  }
  const files = new Map<string, string>();
  for (const [name, entry] of Object.entries(plugins)) {
    const other = files.get(entry.file);
    if (other !== undefined) refuse(`Plugins ${other} and ${name} both claim the file ${entry.file}.`, 'Rebuild the shards; do not edit shard lockfiles.');
    files.set(entry.file, name);
  }
  return { lockfileVersion: LOCKFILE_VERSION, host: first.lock.host, builder: first.lock.builder, plugins };
}

export interface ShardDocument {
  source: string;
  lock: LockDocument;
}

/**
 * The same merge for lockfiles of either shape: multi-platform shards (a config with
 * host.platforms) merge platform by platform, and must all hold the same platforms.
 */
export function mergeShardDocuments(shards: readonly ShardDocument[], configPlugins?: readonly string[]): LockDocument {
  const multi = shards.filter((s) => isMultiPlatform(s.lock));
  if (multi.length === 0) return mergeShardLockfiles(shards as ShardLockfile[], configPlugins);
  const single = shards.find((s) => !isMultiPlatform(s.lock));
  if (single) refuse(`${single.source} has one host section, ${multi[0]!.source} one per platform: they come from different configs.`, 'Pass the lockfiles of every shard of one run (builder build --shard K/N), each once.');
  const platformsOf = (doc: LockDocument) => platformViews(doc).map((v) => v.platform);
  const platforms = platformsOf(shards[0]!.lock);
  for (const shard of shards.slice(1)) {
    if (canonicalJson(platformsOf(shard.lock)) !== canonicalJson(platforms)) {
      refuse(`${shard.source} holds ${platformsOf(shard.lock).join(', ')}; ${shards[0]!.source} holds ${platforms.join(', ')}: they come from different configs.`, 'Pass the lockfiles of every shard of one run (builder build --shard K/N), each once.');
    }
  }
  const sections: Record<string, PlatformLock> = {};
  for (const platform of platforms) {
    const merged = mergeShardLockfiles(shards.map((s) => ({ source: `${s.source} [${platform}]`, lock: platformView(s.lock, platform)!.lock })), configPlugins);
    sections[platform] = { host: merged.host, builder: merged.builder, plugins: merged.plugins };
  }
  return { lockfileVersion: LOCKFILE_VERSION, platforms: sections };
}
