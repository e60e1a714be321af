import { createHash, randomBytes } from 'node:crypto';
import { chmod, link, lstat, mkdir, open, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { hexOf } from '../oci/descriptor.js';
import { acquireProcessLock, type ProcessLock } from '../util/process-lock.js';
import { BuilderError } from '../errors.js';
import { hashOpenFile } from '../util/hash-file.js';
import { sha256Tagged } from '../util/sha256.js';
import { writeNewFileSynced } from '../util/write-file-atomic.js';
import { openRegularFile, readSmallFile, UnsafeFileError } from '../util/safe-file.js';
import { RegistryError } from './registry-error.js';

/** What a materialized set records about itself: which blobs and documents it uses. */
interface SetRecord {
  top: string;
  platform: string | null;
  documents: string[];
  files: Array<{ path: string; digest: string }>;
}

const SET_RECORD = '.set.json';
const KEY = /^[0-9a-f]{64}(?:-linux-[a-z0-9]+)?$/;

/**
 * A content-addressed store of plugin sets: `blobs/sha256/<hex>` (every blob and document,
 * written only after its bytes matched their digest), and `sets/<key>/` — a set as a plugin
 * directory (lockfile, signature, .so files, hard links to the blobs), renamed into place whole.
 * One process uses a store at a time (`lock`). Its contents are not trusted at load: the host
 * checks the signature and every plugin's sha256 on the bytes it loads, as for a deployed directory.
 */
export class PluginStore {
  private constructor(readonly dir: string, private readonly maxBytes: number, private readonly lock: ProcessLock) {}

  static async open(dir: string, maxBytes: number): Promise<PluginStore> {
    try {
      return await PluginStore.openUnchecked(dir, maxBytes);
    } catch (err) {
      if (err instanceof BuilderError) throw err;
      throw new BuilderError('WRITE_FAILED', `The plugin store ${dir} cannot be used: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`, { fix: 'Give --store a directory this user can write (a volume, in a container).', cause: err });
    }
  }

  private static async openUnchecked(dir: string, maxBytes: number): Promise<PluginStore> {
    for (const sub of ['blobs', 'blobs/sha256', 'sets', 'tmp']) {
      await mkdir(join(dir, sub), { recursive: true, mode: 0o755 });
      // The store itself may be a link (a mounted volume); what is inside is ours, never a link
      // to elsewhere (a tmp/ linked to another directory would have it emptied).
      if (!(await lstat(join(dir, sub))).isDirectory()) {
        throw new BuilderError('WRITE_FAILED', `${join(dir, sub)} is not a directory (a symbolic link?); the plugin store keeps only its own directories.`, { fix: `Remove it (or give --store a new directory).` });
      }
    }
    const lockPath = join(dir, 'lock');
    const lock = await acquireProcessLock(lockPath, {
      wait: false,
      otherHostIsStale: true,
      name: 'the plugin store lock',
      locked: (holder) => new RegistryError('STORE_LOCKED', `The plugin store ${dir} is in use by process ${holder.pid} on ${holder.host.slice(0, 64)}, since ${holder.since.slice(0, 40)}.`, { fix: 'Give each host its own --store, or wait for the other process to finish.' }),
      invalid: () => new RegistryError('STORE_LOCKED', `${lockPath} is not a lock this tool wrote.`, { fix: `Remove ${lockPath} if no process uses the store.` }),
    });
    const store = new PluginStore(dir, maxBytes, lock);
    // Leftovers of a pull that was killed: never renamed into place, so never used.
    for (const name of await readdir(join(dir, 'tmp'))) await rm(join(dir, 'tmp', name), { recursive: true, force: true });
    return store;
  }

  async close(): Promise<void> {
    await this.lock.release();
  }

  blobPath(digest: string): string {
    return join(this.dir, 'blobs', 'sha256', hexOf(digest));
  }

  /**
   * Whether a blob of this digest is stored, its bytes re-hashed: a stored blob altered since
   * (a full disk, a hand, an attacker with the store) is removed, to be fetched again.
   */
  async hasBlob(digest: string, size: number): Promise<boolean> {
    let opened;
    try {
      opened = await openRegularFile(this.blobPath(digest), 'A stored blob', { exactSize: size });
    } catch (err) {
      if (!(err instanceof UnsafeFileError)) throw err;
      if (err.code !== 'FILE_MISSING') await rm(this.blobPath(digest), { force: true });
      return false;
    }
    try {
      if (`sha256:${await hashOpenFile(opened.handle.fd, size, AbortSignal.timeout(600_000))}` === digest) return true;
    } finally {
      await opened.handle.close();
    }
    await rm(this.blobPath(digest), { force: true });
    return false;
  }

  /**
   * Store a blob from a stream, checking it on the way: more bytes than `size`, or bytes of
   * another digest, are DIGEST_MISMATCH and nothing is kept.
   */
  async writeBlob(digest: string, size: number, source: Readable, what: string): Promise<void> {
    const temp = join(this.dir, 'tmp', `${hexOf(digest)}.${randomBytes(4).toString('hex')}`);
    const handle = await open(temp, 'wx', 0o444);
    const hash = createHash('sha256');
    let total = 0;
    try {
      try {
        for await (const chunk of source) {
          total += (chunk as Buffer).length;
          if (total > size) {
            source.destroy();
            throw new RegistryError('DIGEST_MISMATCH', `${what} sent more than the ${size} bytes its descriptor declares; the transfer was cut off and nothing kept.`);
          }
          hash.update(chunk as Buffer);
          await handle.write(chunk as Buffer);
        }
        if (total !== size) throw new RegistryError('DIGEST_MISMATCH', `${what} ended after ${total} of its ${size} bytes; nothing kept.`, { transient: true });
        const actual = `sha256:${hash.digest('hex')}`;
        if (actual !== digest) throw new RegistryError('DIGEST_MISMATCH', `${what}: the registry sent bytes of ${actual}, not ${digest}; nothing kept.`, { fix: 'A registry or proxy serving other bytes under a digest is broken or compromised.' });
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, this.blobPath(digest));
    } catch (err) {
      await rm(temp, { force: true });
      throw err;
    }
  }

  /** Store bytes already checked against their digest (a document). */
  async writeDocument(digest: string, bytes: Buffer): Promise<void> {
    const temp = join(this.dir, 'tmp', `${hexOf(digest)}.${randomBytes(4).toString('hex')}`);
    await writeNewFileSynced(temp, bytes, 0o444);
    await rename(temp, this.blobPath(digest));
  }

  /** A stored blob, re-checked against its digest (documents, lockfiles, signatures: small); null when absent or altered. */
  async readChecked(digest: string, max: number): Promise<Buffer | null> {
    let bytes: Buffer;
    try {
      bytes = await readSmallFile(this.blobPath(digest), 'A stored blob', max);
    } catch (err) {
      if (err instanceof UnsafeFileError) return null;
      throw err;
    }
    if (sha256Tagged(bytes) === digest) return bytes;
    await rm(this.blobPath(digest), { force: true });
    return null;
  }

  setPath(key: string): string {
    if (!KEY.test(key)) throw new Error(`not a set key: ${key}`);
    return join(this.dir, 'sets', key);
  }

  /**
   * Every file of a laid-out set is still the very file of its blob (a hard link to it): a file
   * replaced in the set directory (by whoever can write the store) makes the set laid out again.
   */
  async setMatches(dir: string, files: SetRecord['files']): Promise<boolean> {
    for (const file of files) {
      const [a, b] = await Promise.all([lstat(join(dir, file.path)).catch(() => null), lstat(this.blobPath(file.digest)).catch(() => null)]);
      if (!a || !b || !a.isFile() || a.ino !== b.ino || a.dev !== b.dev) return false;
    }
    return true;
  }

  /** A set already materialized (renamed into place whole), marked as just used. */
  async existingSet(key: string): Promise<string | null> {
    const path = this.setPath(key);
    try {
      if (!(await lstat(path)).isDirectory()) {
        // Not something this store made: it goes, and the set is laid out again.
        await rm(path, { force: true });
        return null;
      }
      const now = new Date();
      await utimes(path, now, now);
      return path;
    } catch {
      return null;
    }
  }

  /** Lay a set out as a plugin directory of hard links to its blobs, then rename it into place. */
  async materialize(key: string, record: SetRecord): Promise<string> {
    const target = this.setPath(key);
    const temp = join(this.dir, 'tmp', `set-${key}.${randomBytes(4).toString('hex')}`);
    try {
      await mkdir(temp, { mode: 0o755 });
      for (const file of record.files) {
        const path = join(temp, file.path);
        await mkdir(dirname(path), { recursive: true, mode: 0o755 });
        await link(this.blobPath(file.digest), path);
      }
      await writeFile(join(temp, SET_RECORD), JSON.stringify(record), { mode: 0o444 });
      try {
        await rename(temp, target);
        // Read-only once in place (a directory is renamed only while its owner may write it).
        await chmod(target, 0o555);
      } catch (err) {
        // Another pull of the same set finished first: the same content, already in place.
        if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    } finally {
      await rm(temp, { recursive: true, force: true });
    }
    return target;
  }

  /**
   * Keep the store under its byte budget: the least recently used sets go first, never one in
   * `keep`; then every blob no remaining set uses. Returns the keys removed.
   */
  async collect(keep: readonly string[]): Promise<string[]> {
    const sets: Array<{ key: string; used: number; record: SetRecord | null }> = [];
    for (const key of await readdir(join(this.dir, 'sets'))) {
      if (!KEY.test(key)) continue;
      const path = this.setPath(key);
      const record = await readFile(join(path, SET_RECORD), 'utf8').then((t) => JSON.parse(t) as SetRecord).catch(() => null);
      sets.push({ key, used: (await stat(path)).mtimeMs, record });
    }
    sets.sort((a, b) => b.used - a.used);
    const blobSize = async (digest: string) => (await lstat(this.blobPath(digest)).catch(() => null))?.size ?? 0;
    const usedBy = async (set: (typeof sets)[number]) => {
      let n = 0;
      for (const d of new Set([...(set.record?.documents ?? []), ...(set.record?.files.map((f) => f.digest) ?? [])])) n += await blobSize(d);
      return n;
    };
    const removed: string[] = [];
    // Kept sets count first, whatever their age; the others fill what is left, newest first.
    const sizes = new Map<string, number>();
    for (const set of sets) sizes.set(set.key, await usedBy(set));
    let total = sets.filter((s) => s.record && keep.includes(s.key)).reduce((n, s) => n + sizes.get(s.key)!, 0);
    const kept: typeof sets = [];
    for (const set of sets) {
      const size = sizes.get(set.key)!;
      if (set.record && keep.includes(set.key)) kept.push(set);
      else if (set.record && total + size <= this.maxBytes) {
        total += size;
        kept.push(set);
      } else {
        await this.removeSet(set.key);
        removed.push(set.key);
      }
    }
    const live = new Set(kept.flatMap((s) => [...s.record!.documents, ...s.record!.files.map((f) => f.digest)].map(hexOf)));
    for (const name of await readdir(join(this.dir, 'blobs', 'sha256'))) {
      if (!live.has(name)) await rm(join(this.dir, 'blobs', 'sha256', name), { force: true });
    }
    return removed;
  }

  async removeSet(key: string): Promise<void> {
    const path = this.setPath(key);
    const doomed = join(this.dir, 'tmp', `gone-${key}.${randomBytes(4).toString('hex')}`);
    if ((await lstat(path).catch(() => null))?.isDirectory()) await chmod(path, 0o755).catch(() => {});
    await rename(path, doomed).catch(() => {});
    await rm(doomed, { recursive: true, force: true });
  }
}

export type { SetRecord };
