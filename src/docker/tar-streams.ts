import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { basename, join } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tarStream from 'tar-stream';
import { BuilderError, OutputWriteError, UnsafeArtifactError } from '../errors.js';
import type { FsEntry } from './fs-entry.js';

/** An entry of an image larger than what the reader takes: the image's file, not the engine, is the problem. */
export class EntryTooLargeError extends BuilderError {
  constructor(limit: number) {
    super('FILE_TOO_LARGE', `the entry is larger than ${limit} bytes, more than any file this tool reads from an image`, { fix: 'Check the file the message names in the image.' });
  }
}

async function collect(stream: AsyncIterable<unknown>, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new EntryTooLargeError(limit);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The first entry of a tar stream (Docker's archive of a single path). */
export async function readFirstEntry(tar: Readable, limit = 256 * 1024 * 1024): Promise<FsEntry | null> {
  const extract = tarStream.extract();
  tar.pipe(extract);
  try {
    for await (const entry of extract) {
      const header = entry.header;
      const mode = header.mode !== undefined ? { mode: header.mode & 0o7777 } : {};
      if (header.type === 'file' || header.type === 'contiguous-file') return { type: 'file', data: await collect(entry, limit), ...mode };
      entry.resume();
      if (header.type === 'symlink') return { type: 'symlink', target: header.linkname ?? '' };
      return { type: 'other', directory: header.type === 'directory', ...mode };
    }
    return null;
  } finally {
    tar.destroy();
  }
}

const FILE_SYSCALLS = new Set(['open', 'write', 'close', 'fsync']);

const SAFE_FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.+-]*$/;

export interface ExtractedFile {
  name: string;
  sha256: string;
  size: number;
}

/** Write one entry to `path` as it streams in, hashing the same bytes: nothing is held in memory. */
async function streamToFile(entry: Readable, path: string, limit: number, name: string): Promise<ExtractedFile> {
  const hash = createHash('sha256');
  let size = 0;
  const count = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      size += chunk.length;
      if (size > limit) return callback(new UnsafeArtifactError(name, `build output exceeds ${limit} bytes`));
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  const output = createWriteStream(path, { flags: 'wx', mode: 0o644 });
  let writeError: unknown = null;
  output.once('error', (err) => (writeError = err));
  try {
    await pipeline(entry, count, output);
  } catch (err) {
    // A failed write names the file; anything else came from the archive stream (the engine).
    // (pipeline hands a source's error to the write stream too: only a file syscall's own error counts.)
    const syscall = (writeError as NodeJS.ErrnoException | null)?.syscall;
    if (writeError !== null && err === writeError && syscall !== undefined && FILE_SYSCALLS.has(syscall)) throw new OutputWriteError(path, err);
    throw err;
  }
  return { name: basename(path), sha256: hash.digest('hex'), size };
}

/**
 * Extract Docker's archive of a directory into `destDir`, accepting only regular files that
 * sit directly in that directory. A build container is not trusted: a `../` name, an absolute
 * path, a symlink or a hard link could make a later write land outside the output directory,
 * so any of them rejects the whole archive. `destDir` must be a fresh, empty staging directory.
 * Each file is streamed to disk and hashed on the way (artifacts may be a gigabyte).
 */
export async function extractFlatFiles(tar: Readable, destDir: string, maxBytes: number): Promise<ExtractedFile[]> {
  const extract = tarStream.extract();
  tar.on('error', (err) => extract.destroy(err));
  tar.pipe(extract);
  const written: ExtractedFile[] = [];
  const seen = new Set<string>();
  let total = 0;
  try {
    for await (const entry of extract) {
      const { name, type } = entry.header;
      // Docker names entries after the archived directory: `out/`, `out/libx.so`.
      const parts = name.split('/').filter((p) => p !== '' && p !== '.');
      const inner = parts.slice(1);
      if (name.startsWith('/') || parts.includes('..')) throw new UnsafeArtifactError(name, 'path escapes the output directory');
      if (inner.length === 0 && type === 'directory') {
        entry.resume();
        continue;
      }
      if (type !== 'file' && type !== 'contiguous-file') {
        throw new UnsafeArtifactError(name, `${type ?? 'unknown'} entries are not allowed (only regular files)`);
      }
      const fileName = inner.length === 1 ? (inner[0] as string) : null;
      if (!fileName || !SAFE_FILE_NAME.test(fileName)) {
        throw new UnsafeArtifactError(name, 'only plain file names directly in the output directory are allowed');
      }
      // `out/x` and `out/x/` (or a name cut short at a NUL in its header) are one file: a second
      // entry for a name is the archive's fault, not the disk's.
      if (seen.has(fileName)) throw new UnsafeArtifactError(name, `the output has two entries for ${fileName}`);
      seen.add(fileName);
      total += entry.header.size ?? 0;
      if (total > maxBytes) throw new UnsafeArtifactError(name, `build output exceeds ${maxBytes} bytes`);
      written.push(await streamToFile(entry as unknown as Readable, join(destDir, fileName), maxBytes, name));
    }
  } finally {
    tar.destroy();
  }
  return written.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/**
 * The names directly inside the directory Docker archived (`trust/a.pub` → `a.pub`), at most
 * `limit` of them; what lies deeper is drained unread.
 */
export async function listArchivedDirectory(tar: Readable, limit: number): Promise<string[]> {
  const extract = tarStream.extract();
  tar.on('error', (err) => extract.destroy(err));
  tar.pipe(extract);
  const names: string[] = [];
  try {
    for await (const entry of extract) {
      entry.resume();
      const parts = entry.header.name.split('/').filter((p) => p !== '' && p !== '.');
      if (parts.length !== 2) continue;
      if (names.length >= limit) throw new Error(`more than ${limit} entries`);
      names.push(parts[1]!);
    }
  } finally {
    tar.destroy();
  }
  return names;
}
