import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { commitOutputs } from '../lock/commit-outputs.js';
import { LockfileError, OutputWriteError } from '../errors.js';
import { lockfileText, readLockfile } from '../lock/lockfile-io.js';
import { type LockDocument, platformViews } from '../lock/lockfile.js';
import { lockGenerator } from '../version.js';
import { platformFile } from '../lock/platform.js';
import { signaturePathFor } from '../trust/lockfile-signature.js';
import { copyLockedFile } from '../lock/copy-locked-file.js';
import { mergeShardDocuments } from './merge-lockfiles.js';

export interface MergeRequest {
  /** Each shard's lockfile; its artifacts sit beside it (a shard's outDir, downloaded as one). */
  shardLockfiles: readonly string[];
  /** Where the merged artifacts go, and the merged lockfile. */
  outDir: string;
  lockfile: string;
  /** With -c: the config's plugin names; the shards must have divided exactly these. */
  configPlugins?: readonly string[];
}

export interface MergeResult {
  lock: LockDocument;
  lockfile: string;
  outDir: string;
  /** Plugin name (`name [platform]` for a platform's) → the shard lockfile it came from. */
  from: Record<string, string>;
  /** A signature beside the lockfile was removed: it signed other bytes. */
  removedSignature: string | null;
}

/**
 * `builder lock merge`: merge the shards' lockfiles, copy every artifact from beside its shard's
 * lockfile into outDir (each copy hashed against its entry), and put them and the merged
 * lockfile in place together — readers see the old set or the new, never a mix.
 */
export async function mergeShardOutputs(request: MergeRequest): Promise<MergeResult> {
  const shards = [];
  for (const source of request.shardLockfiles) {
    const lock = await readLockfile(source);
    if (!lock) throw new LockfileError(source, 'does not exist (a shard lockfile to merge)');
    shards.push({ source, lock });
  }
  const lock = { ...mergeShardDocuments(shards, request.configPlugins), generator: lockGenerator() };
  const text = lockfileText(request.lockfile, lock);
  const staging = await mkdtemp(join(request.outDir, '.builder-staging-')).catch((err: unknown) => {
    throw new OutputWriteError(join(request.outDir, '.builder-staging-*'), err, 'create the staging directory');
  });
  try {
    const from: Record<string, string> = {};
    const artifacts: Array<{ staged: string; dest: string }> = [];
    for (const { source, lock: shard } of shards) {
      for (const view of platformViews(shard)) {
        if (view.dir) await mkdir(join(staging, view.dir), { recursive: true });
        for (const [name, entry] of Object.entries(view.lock.plugins)) {
          const file = platformFile(view.dir, entry.file);
          const staged = join(staging, file);
          await copyLockedFile(join(dirname(source), file), staged, name, entry);
          artifacts.push({ staged, dest: join(request.outDir, file) });
          from[view.dir ? `${name} [${view.platform}]` : name] = source;
        }
      }
    }
    const current = await readFile(request.lockfile, 'utf8').catch(() => null);
    const signaturePath = signaturePathFor(request.lockfile);
    const staleSignature = current !== text && (await readFile(signaturePath).then(() => true, () => false));
    await commitOutputs(
      { artifacts, lockfile: { path: request.lockfile, text: current === text ? null : text }, ...(staleSignature ? { signature: { path: signaturePath, text: null } } : {}) },
      staging,
    );
    return { lock, lockfile: request.lockfile, outDir: request.outDir, from, removedSignature: staleSignature ? signaturePath : null };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}
