import { BuilderError } from '../errors.js';
import { printable } from '../util/printable.js';
import { type Duplex, PassThrough, type Readable } from 'node:stream';
import type Docker from 'dockerode';
import type { FsEntry } from './fs-entry.js';
import { TailBuffer } from '../util/tail-buffer.js';
import { type ContainerHandle, OUTPUT_TAIL_BYTES, type PipedRunResult, type RunResult } from './engine.js';
import { DockerFrameDecoder } from './frame-decoder.js';
import { EntryTooLargeError, readFirstEntry } from './tar-streams.js';
import { abortable, type CallKind, RunLimitReached, statusOf } from './call-supervisor.js';

/** One container of a run, through dockerode: files in, run, output out, removal. */

/** What a container needs of its engine: supervised calls, and the run limit for its messages. */
export interface ContainerCalls {
  containerCall<T>(during: string, kind: CallKind, fn: (signal: AbortSignal) => Promise<T>, options?: { source?: AbortSignal }): Promise<T>;
  readonly runLimitMs: number;
  removeContainer(id: string): Promise<void>;
}

/** How long a piped run whose connection broke may take to report its exit before the break is the engine's. */
export const EXIT_AFTER_CUT_MS = 5_000;

/** The value of `promise` if it settles within `ms`, else undefined; its rejection is a rejection. */
export async function settledWithin<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<undefined>((resolve) => (timer = setTimeout(resolve, ms, undefined)))]);
  } finally {
    clearTimeout(timer);
  }
}

export class DockerodeContainer implements ContainerHandle {
  constructor(
    private readonly container: Docker.Container,
    private readonly engine: ContainerCalls,
  ) {}

  get id(): string {
    return this.container.id;
  }

  async putArchive(tar: Readable, path: string): Promise<void> {
    // A source that fails mid-way aborts the upload (piping alone would stop and leave it open).
    const sourceFailed = new AbortController();
    tar.once('error', (err) => sourceFailed.abort(err));
    await this.engine.containerCall(
      `sending files to ${path} in a container`,
      'transfer',
      async (signal) => {
        signal.addEventListener('abort', () => tar.destroy(), { once: true });
        await this.container.putArchive(tar as unknown as NodeJS.ReadableStream, { path, abortSignal: AbortSignal.any([signal, sourceFailed.signal]) });
      },
      { source: sourceFailed.signal },
    );
    if (sourceFailed.signal.aborted) throw sourceFailed.signal.reason;
  }

  async run(): Promise<RunResult> {
    await this.engine.containerCall('starting a container', 'request', (signal) => this.container.start(abortable(signal)));
    let timedOut = false;
    let exitCode = -1;
    try {
      const result = (await this.engine.containerCall('waiting for a build container', 'run', (signal) => this.container.wait(abortable(signal)))) as { StatusCode: number };
      exitCode = result.StatusCode;
    } catch (err) {
      if (!(err instanceof RunLimitReached)) throw err;
      timedOut = true;
      await this.kill();
    }
    const tail = new TailBuffer(OUTPUT_TAIL_BYTES);
    // follow: true makes dockerode hand over a stream (follow: false buffers everything); the
    // container has exited, so the stream ends after the last line.
    await this.engine.containerCall('reading build output', 'transfer', async (signal) => {
      const stream = (await this.container.logs({ stdout: true, stderr: true, follow: true, abortSignal: signal })) as unknown as Readable;
      const decoder = new DockerFrameDecoder((chunk) => tail.push(chunk));
      for await (const chunk of stream as AsyncIterable<Buffer>) decoder.push(chunk);
      if (decoder.end().truncated) throw new Error('the output stream ended in the middle of a frame');
    });
    return { exitCode, timedOut, output: tail.text(), outputBytes: tail.total };
  }

  async runPiped<T>(input: Readable, consume: (stdout: Readable) => Promise<T>): Promise<PipedRunResult<T>> {
    // Our side failing (the input, or `consume` refusing what came out) says nothing about the engine.
    const local = new AbortController();
    let over = false;
    const failLocally = (err: unknown) => {
      // Once the run is over (finished, stopped, cancelled), its streams failing as they are torn down is no news.
      if (!over && !local.signal.aborted) local.abort(err);
    };
    input.on('error', failLocally);
    const tail = new TailBuffer(OUTPUT_TAIL_BYTES);
    try {
      return await this.engine.containerCall(
        'waiting for a build container',
        'run',
        async (signal) => {
          const stop = AbortSignal.any([signal, local.signal]);
          const stream = (await this.container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true, abortSignal: stop })) as unknown as Duplex;
          const stdout = new PassThrough();
          const hangUp = () => {
            over = true;
            input.on('error', () => undefined);
            input.unpipe();
            input.destroy();
            stream.destroy();
            stdout.destroy();
          };
          if (stop.aborted) hangUp();
          stop.addEventListener('abort', hangUp, { once: true });
          // Listening from the first byte: the connection may fail while the container starts.
          const demultiplexed = demultiplex(stream, stdout, tail);
          demultiplexed.catch(() => undefined);
          const consuming = consume(stdout);
          consuming.catch(failLocally);
          await this.container.start(abortable(stop));
          const exited = this.container.wait(abortable(stop)) as Promise<{ StatusCode: number }>;
          exited.catch(() => undefined);
          // Never end(): the container reads a known length, and a half-closed connection is
          // not something every proxy or tunnel to an engine passes on.
          input.pipe(stream, { end: false });
          let cut: unknown = null;
          await demultiplexed.catch((err: unknown) => (cut = err));
          if (local.signal.aborted) throw local.signal.reason;
          if (cut === null) stdout.end();
          else {
            // Torn down by us: what the reader makes of it is not the verdict (the exit status or the break is).
            over = true;
            stdout.destroy();
          }
          // The exit status says whose a short or broken output is. A container that exited
          // before reading all its input (no tar, out of memory) makes the engine reset the
          // connection: that is the container's failure, told by its status, not a lost engine.
          const exit = cut === null ? await exited : await settledWithin(exited, EXIT_AFTER_CUT_MS);
          if (exit === undefined || (cut !== null && exit.StatusCode === 0)) throw cut;
          const result = { exitCode: exit.StatusCode, timedOut: false, output: tail.text(), outputBytes: tail.total };
          if (exit.StatusCode !== 0) return { ...result, consumed: null };
          return { ...result, consumed: await consuming };
        },
        { source: local.signal },
      );
    } catch (err) {
      if (!(err instanceof RunLimitReached)) throw err;
      await this.kill();
      return { exitCode: -1, timedOut: true, output: tail.text(), outputBytes: tail.total, consumed: null };
    }
  }

  private async kill(): Promise<void> {
    await this.engine.containerCall('stopping a container past its time limit', 'request', (signal) => this.container.kill(abortable(signal))).catch((e: unknown) => {
      if (statusOf(e) !== 409 && statusOf(e) !== 404) throw e;
    });
  }

  async readArchive<T>(path: string, consume: (tar: Readable) => Promise<T>): Promise<T> {
    return this.engine.containerCall(`reading ${path} from a container`, 'transfer', async (signal) => {
      const tar = (await this.container.getArchive({ path, abortSignal: signal })) as unknown as Readable;
      signal.addEventListener('abort', () => tar.destroy(), { once: true });
      try {
        return await consume(tar);
      } finally {
        tar.destroy();
      }
    });
  }

  async readEntry(path: string): Promise<FsEntry | null> {
    try {
      return await this.readArchive(path, (tar) => readFirstEntry(tar));
    } catch (err) {
      if (err instanceof EntryTooLargeError) throw new BuilderError('FILE_TOO_LARGE', `${printable(path)} in the image: ${err.message}`, { fix: err.fix ?? '' });
      // A path through a regular file (/usr/bin/setarch/x86_64) is ENOTDIR, which the engine
      // answers with a 500 rather than a 404: for a reader, the file is not there either way.
      // So is a path the kernel refuses to resolve (a symlink loop, a name too long): open() fails the loader the same way.
      if (statusOf(err) === 404 || (statusOf(err) === 500 && /: not a directory\b|too many (levels of symbolic )?links|file name too long/i.test((err as Error).message))) return null;
      throw err;
    }
  }

  async remove(): Promise<void> {
    await this.engine.removeContainer(this.container.id);
  }
}

/**
 * Split an attached container's multiplexed stream: stdout into `stdout` (pausing the
 * connection while its reader is behind), stderr into `tail`. Resolves at the stream's end;
 * rejects if it is cut (inside a frame, or closed without an end).
 */
export function demultiplex(stream: Duplex, stdout: PassThrough, tail: TailBuffer): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let waiting = false;
    const decoder = new DockerFrameDecoder((chunk, kind) => {
      if (kind !== 1) return tail.push(chunk);
      if (!stdout.write(chunk) && !waiting) {
        waiting = true;
        stream.pause();
        stdout.once('drain', () => {
          waiting = false;
          stream.resume();
        });
      }
    });
    stream.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk);
      } catch (err) {
        reject(err);
        stream.destroy();
      }
    });
    stream.once('end', () => (decoder.end().truncated ? reject(new Error('the output stream ended in the middle of a frame')) : resolve()));
    stream.once('error', reject);
    stream.once('close', () => reject(new Error('the connection closed before the output ended')));
  });
}
