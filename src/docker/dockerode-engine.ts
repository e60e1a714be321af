import { StringDecoder } from 'node:string_decoder';
import { boundEngineAnswers, EngineAnswerTooLarge, MAX_ENGINE_ANSWER_BYTES } from './bounded-answers.js';
import { type Duplex, PassThrough, type Readable } from 'node:stream';
import type Docker from 'dockerode';
import { BuilderError, DockerUnavailableError, EngineAddressError, EngineLostError, EngineRequestError, EngineTimeoutError, ImageBuildError, ImagePullError, ImagePushError } from '../errors.js';
import type { FsEntry } from './fs-entry.js';
import { TailBuffer } from '../util/tail-buffer.js';
import { nodeConfigFiles } from './config-files.js';
import { repoAndTag } from './image-ref.js';
import { loadDockerode } from './load-dockerode.js';
import { type ConfigFiles, type EngineEndpoint, EngineEndpointError, resolveEngineEndpoint } from './docker-host.js';
import { dockerodeOptions, type SshRefusal, unavailableFix } from './engine-connection.js';
import {
  type ContainerHandle,
  type ContainerSpec,
  type ContainerSummary,
  DEFAULT_ENGINE_TIMEOUTS,
  type DockerEngine,
  type EngineTimeouts,
  type ImageBuildRequest,
  type ImageInfo,
  OUTPUT_TAIL_BYTES,
  type PipedRunResult,
  type RunResult,
} from './engine.js';
import { DockerFrameDecoder } from './frame-decoder.js';
import { sizedArchive } from './sized-archive.js';
import { readFirstEntry } from './tar-streams.js';

const LOG_TAIL_LINES = 30;

type CallKind = 'request' | 'transfer' | 'run';

const OPTION_FOR: Record<CallKind, string> = { request: '--engine-timeout', transfer: '--engine-timeout (transfers get 20× it)', run: '--compile-timeout' };

// dockerode passes `abortSignal` on to docker-modem for every call, but its type definitions
// only know it for some: one typed hole instead of a cast at each call.
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
const abortable = (signal: AbortSignal): {} => ({ abortSignal: signal });

function statusOf(err: unknown): number | undefined {
  return (err as { statusCode?: number } | null)?.statusCode;
}

/** How long a piped run whose connection broke may take to report its exit before the break is the engine's. */
const EXIT_AFTER_CUT_MS = 5_000;

/** The value of `promise` if it settles within `ms`, else undefined; its rejection is a rejection. */
async function settledWithin<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<undefined>((resolve) => (timer = setTimeout(resolve, ms, undefined)))]);
  } finally {
    clearTimeout(timer);
  }
}

/** Thrown inside a call when the run limit passes; a compile that is too slow is the plugin's failure, not the engine's. */
class RunLimitReached extends Error {}

interface Scope {
  signal: AbortSignal | undefined;
  labels: Record<string, string>;
}

/** Shared by an engine and its scoped copies: once the engine is known lost, cleanup calls fail at once instead of each waiting out its limit. */
interface Health {
  lost: EngineLostError | null;
}

/**
 * The real engine, through dockerode; the only module that imports dockerode. Every call has a
 * time limit for its kind, stops when the scope's signal aborts, and turns a socket that closed
 * or a stream cut short into ENGINE_LOST. Long calls (transfers, runs) also ping the engine on a
 * fresh connection every few seconds: a run waiting on a container is silent for minutes, and
 * only the ping tells a long compile from an engine that froze or went away.
 */
export class DockerodeEngine implements DockerEngine {
  readonly endpoint: string;

  private constructor(
    private readonly docker: Docker,
    /** Where the engine is, how it was found, and what an ssh connection was refused for: for messages. */
    private readonly origin: { endpoint: EngineEndpoint; refusal: SshRefusal },
    private readonly timeouts: EngineTimeouts,
    private readonly scope: Scope,
    private readonly health: Health,
  ) {
    this.endpoint = origin.endpoint.endpoint;
  }

  static connect(endpoint: EngineEndpoint, env: Readonly<Record<string, string | undefined>> = {}, timeouts: Partial<EngineTimeouts> = {}, files: ConfigFiles = nodeConfigFiles): DockerodeEngine {
    const refusal: SshRefusal = { hostKey: null, identity: null };
    const DockerClient = loadDockerode();
    const docker = new DockerClient(dockerodeOptions(endpoint, env, files, refusal));
    boundEngineAnswers(docker.modem as unknown as Parameters<typeof boundEngineAnswers>[0]);
    return new DockerodeEngine(docker, { endpoint, refusal }, { ...DEFAULT_ENGINE_TIMEOUTS, ...timeouts }, { signal: undefined, labels: {} }, { lost: null });
  }

  /** The engine the docker CLI would use with this environment (and `--host`). */
  static fromEnv(env: Readonly<Record<string, string | undefined>>, timeouts: Partial<EngineTimeouts> = {}, options: { host?: string } = {}, files: ConfigFiles = nodeConfigFiles): DockerodeEngine {
    let endpoint: EngineEndpoint;
    try {
      endpoint = resolveEngineEndpoint(env, options, files);
    } catch (err) {
      if (err instanceof EngineEndpointError) throw new EngineAddressError(err.message);
      throw err;
    }
    return DockerodeEngine.connect(endpoint, env, timeouts, files);
  }

  scoped(scope: { signal?: AbortSignal; labels?: Record<string, string> }): DockerEngine {
    const signals = [this.scope.signal, scope.signal].filter((s): s is AbortSignal => s !== undefined);
    return new DockerodeEngine(this.docker, this.origin, this.timeouts, {
      signal: signals.length > 1 ? AbortSignal.any(signals) : signals[0],
      labels: { ...this.scope.labels, ...scope.labels },
    }, this.health);
  }

  /**
   * Run `fn` as one engine call of `kind`: it gets a signal that aborts on the scope's signal,
   * the time limit, or a failed liveness ping, and the call rejects at that moment even if the
   * underlying request ignores the abort. `cleanup` calls ignore the scope's signal: they run
   * after a cancellation, to remove what the run made.
   */
  private async call<T>(during: string, kind: CallKind, fn: (signal: AbortSignal) => Promise<T>, options: { cleanup?: boolean; limitMs?: number; source?: AbortSignal } = {}): Promise<T> {
    const outer = options.cleanup ? undefined : this.scope.signal;
    outer?.throwIfAborted();
    if (options.cleanup && this.health.lost) throw this.health.lost;
    const inner = new AbortController();
    const fail = (err: unknown) => {
      if (!inner.signal.aborted) inner.abort(err);
    };
    const onOuter = () => fail(outer?.reason);
    outer?.addEventListener('abort', onOuter, { once: true });
    const limit = options.limitMs ?? (kind === 'request' ? this.timeouts.requestMs : kind === 'transfer' ? this.timeouts.transferMs : this.timeouts.runMs);
    const timer = setTimeout(() => fail(kind === 'run' ? new RunLimitReached() : new EngineTimeoutError(this.endpoint, during, limit, OPTION_FOR[kind])), limit);
    let checking = false;
    const watchdog =
      kind === 'request'
        ? undefined
        : setInterval(() => {
            if (checking) return;
            checking = true;
            this.checkAlive(during).then(() => (checking = false), fail);
          }, this.timeouts.livenessMs);
    const aborted = new Promise<never>((_, reject) => inner.signal.addEventListener('abort', () => reject(inner.signal.reason), { once: true }));
    aborted.catch(() => undefined);
    try {
      return await Promise.race([fn(inner.signal), aborted]);
    } catch (err) {
      // An upload stopped because its own source failed says nothing about the engine.
      if (options.source?.aborted) throw options.source.reason;
      const error = inner.signal.aborted ? inner.signal.reason : this.engineError(err, during);
      if (error instanceof EngineLostError || error instanceof EngineTimeoutError) this.health.lost ??= error instanceof EngineLostError ? error : new EngineLostError(this.endpoint, during, error.message);
      throw error;
    } finally {
      clearTimeout(timer);
      clearInterval(watchdog);
      outer?.removeEventListener('abort', onOuter);
      if (!inner.signal.aborted) inner.abort(new Error('call finished'));
    }
  }

  private pingOnce(signal: AbortSignal): Promise<unknown> {
    // The type definitions know ping() without options; docker-modem reads abortSignal from them.
    return (this.docker.ping as unknown as (options: object) => Promise<unknown>).call(this.docker, abortable(signal));
  }

  /**
   * A ping on a new connection; rejects with ENGINE_LOST. A ping costs the engine nothing, so
   * its patience is the request limit but never more than 10 s.
   */
  private async checkAlive(during: string): Promise<void> {
    const patienceMs = Math.min(this.timeouts.requestMs, 10_000);
    const signal = AbortSignal.timeout(patienceMs);
    try {
      await raceSignal(this.pingOnce(signal), signal);
    } catch (err) {
      const detail = signal.aborted ? `it stopped answering (no answer to a ping within ${patienceMs / 1000} s)` : `a ping failed (${describe(err)})`;
      throw new EngineLostError(this.endpoint, during, detail, err);
    }
  }

  /** An HTTP status is the engine's answer; anything else (reset, hang-up, a cut stream) means it is gone. */
  private engineError(err: unknown, during: string): unknown {
    if (err instanceof BuilderError) return err;
    // A hostile or broken engine, not a slow one: the connection is dropped, the run ends.
    if (err instanceof EngineAnswerTooLarge) return new EngineLostError(this.endpoint, during, `${err.message}; the answer was cut and the connection dropped`, err);
    const status = statusOf(err);
    if (status !== undefined) return new EngineRequestError(this.endpoint, during, status, (err as Error).message);
    return new EngineLostError(this.endpoint, during, `the connection failed (${describe(err)})`, err);
  }

  async ping(): Promise<void> {
    try {
      await this.call('pinging it', 'request', (signal) => raceSignal(this.pingOnce(signal), signal), { limitMs: Math.min(this.timeouts.requestMs, 10_000) });
    } catch (err) {
      if (err instanceof EngineRequestError || err instanceof EngineLostError || err instanceof EngineTimeoutError) {
        const cause = err instanceof EngineLostError ? (err.cause ?? err) : err;
        const fix = unavailableFix(this.origin.endpoint, this.origin.refusal, (cause as NodeJS.ErrnoException | null)?.code);
        throw new DockerUnavailableError(`${this.endpoint} (${this.origin.endpoint.source})`, cause, fix);
      }
      throw err;
    }
  }

  async inspectImage(ref: string): Promise<ImageInfo | null> {
    try {
      const info = await this.call(`inspecting image ${ref}`, 'request', (signal) => this.docker.getImage(ref).inspect(abortable(signal)));
      return {
        id: info.Id,
        architecture: info.Architecture,
        os: info.Os,
        labels: (info.Config?.Labels as Record<string, string> | null) ?? {},
        env: (info.Config?.Env as string[] | null) ?? [],
        entrypoint: asArgv(info.Config?.Entrypoint),
        cmd: asArgv(info.Config?.Cmd),
        workingDir: (info.Config?.WorkingDir as string | undefined) || '/',
        repoDigests: strings(info.RepoDigests),
        layers: strings(info.RootFS?.Layers),
      };
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
  }

  async buildImage(request: ImageBuildRequest, onOutput: (line: string) => void): Promise<ImageInfo> {
    const progress = new ProgressLines(onOutput);
    await this.call(`building image ${request.tag}`, 'run', async (signal) => {
      const context = (await sizedArchive(request.contextDir, request.files)).stream();
      const stream = (await this.docker.buildImage(context as unknown as NodeJS.ReadableStream, {
        t: request.tag,
        dockerfile: request.dockerfile,
        buildargs: request.buildArgs,
        labels: request.labels,
        rm: true,
        forcerm: true,
        abortSignal: signal,
      })) as unknown as Readable;
      await progress.read(stream);
    }).catch((err: unknown) => {
      if (err instanceof RunLimitReached) throw new ImageBuildError(request.tag, `it did not finish within ${this.timeouts.runMs / 1000} s (--compile-timeout)`, progress.tail);
      throw err;
    });
    if (progress.failure !== null) throw new ImageBuildError(request.tag, progress.failure, progress.tail);
    const info = await this.inspectImage(request.tag);
    if (!info) throw new ImageBuildError(request.tag, 'the build reported success but the tag does not exist', progress.tail);
    return info;
  }

  async importImage(tar: Readable, ref: string, labels: Record<string, string>): Promise<ImageInfo> {
    const [repo, tag] = repoAndTag(ref);
    // Labels go in as Dockerfile LABEL instructions (the import API's `changes`); values JSON-quoted.
    const changes = Object.entries(labels).map(([k, v]) => `LABEL ${JSON.stringify(k)}=${JSON.stringify(v)}`);
    const progress = new ProgressLines(() => undefined);
    // A source that fails mid-way must abort the upload: piping stops but would leave the
    // request open, and a cut-short tar must never become an image.
    const sourceFailed = new AbortController();
    tar.once('error', (err) => sourceFailed.abort(err));
    await this.call(
      `importing image ${ref}`,
      'transfer',
      async (signal) => {
        signal.addEventListener('abort', () => tar.destroy(), { once: true });
        const abortSignal = AbortSignal.any([signal, sourceFailed.signal]);
        const stream = (await this.docker.importImage(tar as unknown as NodeJS.ReadableStream, { repo, tag, changes, abortSignal } as never)) as unknown as Readable;
        await progress.read(stream);
      },
      { source: sourceFailed.signal },
    );
    if (sourceFailed.signal.aborted) throw sourceFailed.signal.reason;
    if (progress.failure !== null) throw new ImageBuildError(ref, progress.failure, progress.tail);
    const info = await this.inspectImage(ref);
    if (!info) throw new ImageBuildError(ref, 'the import reported success but the tag does not exist', progress.tail);
    return info;
  }

  async pullImage(ref: string, onOutput: (line: string) => void): Promise<ImageInfo> {
    const progress = new ProgressLines(onOutput);
    await this.call(`pulling image ${ref}`, 'transfer', async (signal) => {
      const stream = (await this.docker.pull(ref, { abortSignal: signal })) as unknown as Readable;
      await progress.read(stream);
    }).catch((err: unknown) => {
      // The engine answering the pull with a status (404 manifest unknown, 500 registry unreachable) is the pull failing.
      if (err instanceof EngineRequestError) throw new ImagePullError(ref, err.detail);
      throw err;
    });
    if (progress.failure !== null) throw new ImagePullError(ref, progress.failure);
    const info = await this.inspectImage(ref);
    if (!info) throw new ImagePullError(ref, 'the pull reported success but the image is not there');
    return info;
  }

  async tagImage(image: string, ref: string): Promise<void> {
    const [repo, tag] = repoAndTag(ref);
    await this.call(`tagging ${image} as ${ref}`, 'request', (signal) => this.docker.getImage(image).tag({ repo, tag, abortSignal: signal }));
  }

  async removeImage(ref: string): Promise<void> {
    try {
      await this.call(`removing image ${ref}`, 'request', (signal) => this.docker.getImage(ref).remove({ abortSignal: signal }), { cleanup: true });
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
  }

  async pushImage(ref: string, onOutput: (line: string) => void): Promise<string> {
    const progress = new ProgressLines(onOutput);
    const registry = ref.includes('/') && /[.:]|^localhost$/.test(ref.split('/')[0] as string) ? (ref.split('/')[0] as string) : 'docker.io';
    await this.call(`pushing image ${ref}`, 'transfer', async (signal) => {
      const stream = (await this.docker.getImage(ref).push({ authconfig: { serveraddress: registry }, abortSignal: signal })) as unknown as Readable;
      await progress.read(stream);
    });
    if (progress.failure !== null) throw new ImagePushError(ref, progress.failure);
    if (progress.digest === null) throw new ImagePushError(ref, 'the registry reported no digest');
    return progress.digest;
  }

  async createContainer(spec: ContainerSpec): Promise<ContainerHandle> {
    const container = await this.call(`creating a container of ${spec.image}`, 'request', (signal) =>
      this.docker.createContainer({
        Image: spec.image,
        ...(spec.entrypoint ? { Entrypoint: [...spec.entrypoint] } : {}),
        Cmd: [...spec.cmd],
        Env: spec.env ? [...spec.env] : undefined,
        WorkingDir: spec.workingDir,
        // StdinOnce: if the attached connection drops mid-upload, the container's stdin closes
        // and it fails, rather than waiting forever for bytes that will not come.
        ...(spec.stdin ? { OpenStdin: true, StdinOnce: true } : {}),
        Labels: { ...spec.labels, ...this.scope.labels },
        HostConfig: {
          // No network is needed to compile: sources come in as a tar stream.
          NetworkMode: 'none',
          // A piped run's output is read from its attached connection: a log of it on the engine
          // would be a second copy of every byte (the json-file driver cut stdout throughput to
          // ~55 MB/s here, and keeps up to a gigabyte of JSON on the engine's disk).
          ...(spec.stdin ? { LogConfig: { Type: 'none', Config: {} } } : {}),
          ...(spec.volumes || spec.scratch
            ? {
                Mounts: [
                  ...(spec.volumes ?? []).map((v) => ({ Type: 'volume' as const, Source: v.name, Target: v.target })),
                  ...(spec.scratch ? [{ Type: 'volume' as const, Target: spec.scratch }] : []),
                ],
              }
            : {}),
          ...(spec.confined ? { ReadonlyRootfs: true, CapDrop: ['ALL'], SecurityOpt: ['no-new-privileges'] } : {}),
        },
        abortSignal: signal,
      } as Docker.ContainerCreateOptions),
    );
    return new DockerodeContainer(container, this);
  }

  async ensureVolume(name: string, labels: Record<string, string>): Promise<void> {
    try {
      await this.call(`inspecting volume ${name}`, 'request', (signal) => this.docker.getVolume(name).inspect(abortable(signal)));
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
      await this.call(`creating volume ${name}`, 'request', (signal) => this.docker.createVolume({ Name: name, Labels: labels, abortSignal: signal } as Docker.VolumeCreateOptions));
    }
  }

  async listContainers(labels: Record<string, string>): Promise<ContainerSummary[]> {
    const filters = JSON.stringify({ label: Object.entries(labels).map(([k, v]) => `${k}=${v}`) });
    const list = await this.call('listing containers', 'request', (signal) => this.docker.listContainers({ all: true, filters, abortSignal: signal }), { cleanup: true });
    return list.map((c) => ({ id: c.Id, state: c.State, labels: c.Labels ?? {} }));
  }

  async removeContainer(id: string): Promise<void> {
    try {
      await this.call(`removing container ${id.slice(0, 12)}`, 'request', (signal) => this.docker.getContainer(id).remove({ force: true, v: true, abortSignal: signal }), { cleanup: true });
    } catch (err) {
      if (statusOf(err) !== 404 && statusOf(err) !== 409) throw err;
    }
  }

  /** For DockerodeContainer: one call of this engine's kind and scope. */
  containerCall<T>(during: string, kind: CallKind, fn: (signal: AbortSignal) => Promise<T>, options: { source?: AbortSignal } = {}): Promise<T> {
    return this.call(during, kind, fn, options);
  }

  get runLimitMs(): number {
    return this.timeouts.runMs;
  }
}

class DockerodeContainer implements ContainerHandle {
  constructor(
    private readonly container: Docker.Container,
    private readonly engine: DockerodeEngine,
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
      // A path through a regular file (/usr/bin/setarch/x86_64) is ENOTDIR, which the engine
      // answers with a 500 rather than a 404: for a reader, the file is not there either way.
      if (statusOf(err) === 404 || (statusOf(err) === 500 && /: not a directory\b/.test((err as Error).message))) return null;
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
function demultiplex(stream: Duplex, stdout: PassThrough, tail: TailBuffer): Promise<void> {
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

/** Entrypoint/Cmd as an argv: Docker stores either an array or (shell form in old images) a string. */
const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);

function asArgv(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  return typeof value === 'string' && value !== '' ? ['/bin/sh', '-c', value] : [];
}

function describe(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}

/** Settle when `promise` does or when `signal` aborts, whichever is first. */
function raceSignal<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

/**
 * The JSON lines of a build or pull stream. The API answers 200 and reports failure inside the
 * stream, so every line is read and an `error` line is kept as the failure, although the stream
 * itself ends normally. The last lines are kept for error messages.
 */
class ProgressLines {
  readonly tail: string[] = [];
  failure: string | null = null;
  /** A push's manifest digest (its `aux.Digest` line). */
  digest: string | null = null;

  constructor(private readonly onOutput: (line: string) => void) {}

  async read(stream: Readable): Promise<void> {
    // A line without an end is an answer without a bound: it is cut at MAX_ENGINE_ANSWER_BYTES,
    // as every buffered answer is (bounded-answers.ts). Only a chunk's own newlines are searched.
    const decoder = new StringDecoder('utf8');
    let pending = '';
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const text = decoder.write(chunk);
      const end = text.lastIndexOf('\n');
      if (end === -1) {
        pending += text;
        if (pending.length > MAX_ENGINE_ANSWER_BYTES) throw new EngineAnswerTooLarge(MAX_ENGINE_ANSWER_BYTES);
        continue;
      }
      const lines = (pending + text.slice(0, end)).split('\n');
      pending = text.slice(end + 1);
      lines.forEach((line) => this.handle(line));
    }
    this.handle(pending + decoder.end());
  }

  private remember(line: string): void {
    this.tail.push(line);
    if (this.tail.length > LOG_TAIL_LINES) this.tail.shift();
    this.onOutput(line);
  }

  private handle(raw: string): void {
    if (!raw.trim()) return;
    let message: { stream?: string; error?: string; errorDetail?: { message?: string }; status?: string; id?: string; aux?: { Digest?: string } };
    try {
      message = JSON.parse(raw);
    } catch {
      this.remember(raw);
      return;
    }
    if (message.error || message.errorDetail) {
      this.failure = message.errorDetail?.message ?? message.error ?? 'unknown error';
      return;
    }
    if (typeof message.aux?.Digest === 'string' && /^sha256:[0-9a-f]{64}$/.test(message.aux.Digest)) this.digest = message.aux.Digest;
    const text = message.stream ?? (message.status ? `${message.id ? `${message.id}: ` : ''}${message.status}` : undefined);
    if (text) for (const line of text.split('\n')) if (line.trim()) this.remember(line.replace(/\s+$/, ''));
  }
}
