import { constants } from 'node:fs';
import { type FileHandle, lstat, open } from 'node:fs/promises';
import { join } from 'node:path';
import { once } from 'node:events';
import { type Readable, Transform } from 'node:stream';
import * as tarStream from 'tar-stream';
import { BuilderError } from '../errors.js';

/** A tar archive whose exact length is known before a byte of it is produced. */
export interface SizedArchive {
  readonly bytes: number;
  /** The archive (once). It fails rather than differ from `bytes`: a file that changed kind or size since it was measured stops it. */
  stream(): Readable;
}

export class SourceChangedError extends BuilderError {
  constructor(path: string, what: string) {
    super('SOURCE_CHANGED', `Source file ${path} changed while the build was reading it: ${what}.`, {
      fix: 'Build again once nothing is writing to the plugin directory.',
    });
  }
}

// Never follow a link swapped in for a source, never block on a FIFO swapped in for one.
const SOURCE_OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

const BLOCK = 512;
const padded = (size: number) => Math.ceil(size / BLOCK) * BLOCK;

interface Item {
  path: string;
  header: SourceHeader;
}

type SourceHeader = Pick<tarStream.Header, 'name' | 'type' | 'size' | 'mode' | 'mtime' | 'uid' | 'gid' | 'uname' | 'gname'> & { size: number };

/**
 * The tar archive of `files` (relative to `dir`, each under `prefix`): a plugin's sources, or an
 * image build's context. Measured first: a build
 * container reads exactly `bytes` from its stdin and needs no end-of-file, which a proxy or
 * tunnel between here and the engine may not pass on (a half-closed connection). Owner and
 * mtime are normalised, as for every archive sent to a build.
 *
 * The length is exact by construction: a header's encoding does not depend on the file's size
 * (tar-stream writes sizes past 8 GiB in base-256 in the same 512 bytes), so the headers are
 * encoded once with size 0 and every file adds its size rounded up to a block.
 */
export async function sizedArchive(dir: string, files: readonly string[], prefix = ''): Promise<SizedArchive> {
  const items: Item[] = [];
  let data = 0;
  for (const file of files) {
    const path = join(dir, file);
    const stats = await lstat(path);
    if (!stats.isFile()) throw new SourceChangedError(path, 'it is no longer a regular file');
    items.push({ path, header: { name: prefix ? `${prefix}/${file}` : file, type: 'file', size: stats.size, mode: stats.mode & 0o7777, mtime: new Date(0), uid: 0, gid: 0, uname: '', gname: '' } });
    data += padded(stats.size);
  }
  const bytes = (await headerBytes(items.map((i) => i.header))) + data;
  let used = false;
  return {
    bytes,
    stream() {
      if (used) throw new Error('a sized archive is read once');
      used = true;
      const { pack, done } = packItems(items);
      const output = counted(bytes);
      // Copied by hand, not piped: a pipe would hand the pack's own error for a changed file
      // (tar-stream's bare "Size mismatch") to the output first; the output fails with
      // packItems' verdict instead, which names the file.
      pack.on('error', () => undefined);
      done.catch((err: unknown) => output.destroy(err as Error));
      const closed = new AbortController();
      output.once('close', () => {
        closed.abort();
        pack.destroy();
      });
      (async () => {
        for await (const chunk of pack as AsyncIterable<Buffer>) if (!output.write(chunk)) await once(output, 'drain', { signal: closed.signal });
        output.end();
      })().catch(() => undefined);
      return output;
    },
  };
}

/** The length of an archive of these headers with every size 0 (headers, any pax records, the end blocks). */
async function headerBytes(headers: readonly SourceHeader[]): Promise<number> {
  const pack = tarStream.pack();
  for (const header of headers) pack.entry({ ...header, size: 0 }, Buffer.alloc(0));
  pack.finalize();
  let total = 0;
  for await (const chunk of pack as AsyncIterable<Buffer>) total += chunk.length;
  return total;
}

function packItems(items: readonly Item[]): { pack: Readable; done: Promise<void> } {
  const pack = tarStream.pack();
  const done = (async () => {
    for (const item of items) await packOne(pack, item);
    pack.finalize();
  })();
  done.catch((err: unknown) => pack.destroy(err as Error));
  // tar-stream's streams are streamx streams: pipe-compatible with Node's, typed differently.
  return { pack: pack as unknown as Readable, done };
}

async function packOne(pack: tarStream.Pack, item: Item): Promise<void> {
  let handle: FileHandle;
  try {
    handle = await open(item.path, SOURCE_OPEN_FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new SourceChangedError(item.path, code === 'ELOOP' ? 'it is now a symbolic link' : code === 'ENOENT' ? 'it is gone' : `it cannot be opened (${code ?? String(err)})`);
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw new SourceChangedError(item.path, 'it is no longer a regular file');
    if (stats.size !== item.header.size) throw new SourceChangedError(item.path, `its size went from ${item.header.size} to ${stats.size} bytes`);
    if (item.header.size === 0) {
      await new Promise<void>((resolve, reject) => pack.entry({ ...item.header }, Buffer.alloc(0), (err) => (err ? reject(err) : resolve())));
    } else {
      await new Promise<void>((resolve, reject) => {
        let settled = false;
        const fail = (err: unknown) => {
          if (settled) return;
          settled = true;
          input.destroy();
          entry.destroy();
          reject(err);
        };
        // tar-stream refuses an entry whose data is shorter than its header says (a file that
        // shrank); reading stops at the measured size, so one that grows cannot overrun it.
        const entry = pack.entry({ ...item.header }, (err) => {
          if (err) fail(/size mismatch/i.test(err.message) ? new SourceChangedError(item.path, `it shrank while it was read (${err.message})`) : err);
          else if (!settled) {
            settled = true;
            resolve();
          }
        });
        // The archive's reader may go away (a cancelled build): that ends this entry, quietly.
        entry.on('error', fail);
        const input = handle.createReadStream({ autoClose: false, start: 0, end: item.header.size - 1 });
        input.on('error', fail);
        input.pipe(entry as unknown as NodeJS.WritableStream);
      });
    }
    // Written to while it was read (same size or grown): what was sent is not what was measured and hashed.
    const after = await handle.stat();
    if (after.size !== stats.size || after.mtimeMs !== stats.mtimeMs) throw new SourceChangedError(item.path, 'it was written to while it was read');
  } finally {
    await handle.close();
  }
}

/** A pass-through that fails if what went through it ends at any other length than `bytes` (a safeguard: packItems already refuses a changed file). */
function counted(bytes: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > bytes) return callback(new Error(`the source archive grew past its measured ${bytes} bytes`));
      callback(null, chunk);
    },
    flush(callback) {
      callback(seen === bytes ? null : new Error(`the source archive ended at ${seen} of its measured ${bytes} bytes`));
    },
  });
}
