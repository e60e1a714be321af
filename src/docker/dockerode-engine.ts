import { boundEngineAnswers } from './bounded-answers.js';
import { type Readable } from 'node:stream';
import type Docker from 'dockerode';
import { DockerUnavailableError, EngineAddressError, EngineLostError, EngineRequestError, EngineTimeoutError, ImageBuildError, ImagePullError, ImagePushError } from '../errors.js';
import { nodeConfigFiles } from './config-files.js';
import { repoAndTag } from './image-ref.js';
import { loadDockerode } from './load-dockerode.js';
import { type ConfigFiles, type EngineEndpoint, EngineEndpointError, resolveEngineEndpoint } from './docker-host.js';
import { dockerodeOptions, type SshRefusal, unavailableFix } from './engine-connection.js';
import { type ContainerHandle, type ContainerSpec, type ContainerSummary, DEFAULT_ENGINE_TIMEOUTS, type DockerEngine, type EngineTimeouts, type ImageBuildRequest, type ImageInfo } from './engine.js';
import { sizedArchive } from './sized-archive.js';
import { ProgressLines } from './progress-lines.js';
import { DockerodeContainer } from './dockerode-container.js';
import { abortable, CallSupervisor, type CallKind, RunLimitReached, raceSignal, type Scope, statusOf } from './call-supervisor.js';

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
    private readonly calls: CallSupervisor,
  ) {
    this.endpoint = origin.endpoint.endpoint;
  }

  static connect(endpoint: EngineEndpoint, env: Readonly<Record<string, string | undefined>> = {}, timeouts: Partial<EngineTimeouts> = {}, files: ConfigFiles = nodeConfigFiles): DockerodeEngine {
    const refusal: SshRefusal = { hostKey: null, identity: null };
    const DockerClient = loadDockerode();
    const docker = new DockerClient(dockerodeOptions(endpoint, env, files, refusal));
    boundEngineAnswers(docker.modem as unknown as Parameters<typeof boundEngineAnswers>[0]);
    const limits = { ...DEFAULT_ENGINE_TIMEOUTS, ...timeouts };
    const scope: Scope = { signal: undefined, labels: {} };
    return new DockerodeEngine(docker, { endpoint, refusal }, limits, scope, new CallSupervisor(endpoint.endpoint, (signal) => pingOnce(docker, signal), limits, scope, { lost: null }));
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
    const narrower: Scope = { signal: signals.length > 1 ? AbortSignal.any(signals) : signals[0], labels: { ...this.scope.labels, ...scope.labels } };
    return new DockerodeEngine(this.docker, this.origin, this.timeouts, narrower, this.calls.scoped(narrower));
  }

  private call<T>(during: string, kind: CallKind, fn: (signal: AbortSignal) => Promise<T>, options: { cleanup?: boolean; limitMs?: number; source?: AbortSignal } = {}): Promise<T> {
    return this.calls.call(during, kind, fn, options);
  }

  async ping(): Promise<void> {
    try {
      await this.call('pinging it', 'request', (signal) => raceSignal(pingOnce(this.docker, signal), signal), { limitMs: Math.min(this.timeouts.requestMs, 10_000) });
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

/** Entrypoint/Cmd as an argv: Docker stores either an array or (shell form in old images) a string. */
const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);

function asArgv(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  return typeof value === 'string' && value !== '' ? ['/bin/sh', '-c', value] : [];
}

function pingOnce(docker: Docker, signal: AbortSignal): Promise<unknown> {
  // The type definitions know ping() without options; docker-modem reads abortSignal from them.
  return (docker.ping as unknown as (options: object) => Promise<unknown>).call(docker, abortable(signal));
}
