import type { Readable } from 'node:stream';
import Docker from 'dockerode';
import { DockerUnavailableError, ImageBuildError } from '../errors.js';
import type { FsEntry } from '../env/file-source.js';
import { type DockerConnection, parseDockerHost } from './docker-host.js';
import type { ContainerHandle, ContainerSpec, DockerEngine, ImageBuildRequest, ImageInfo, RunResult } from './engine.js';
import { demuxDockerStream } from './demux.js';
import { packFiles, readFirstEntry } from './tar-streams.js';

const PING_TIMEOUT_MS = 10_000;
const LOG_TAIL_LINES = 30;

function statusOf(err: unknown): number | undefined {
  return (err as { statusCode?: number } | null)?.statusCode;
}

/** The real engine, through dockerode. The only module that imports dockerode. */
export class DockerodeEngine implements DockerEngine {
  readonly endpoint: string;
  private readonly docker: Docker;

  constructor(connection: DockerConnection) {
    this.endpoint = connection.endpoint;
    this.docker =
      connection.kind === 'socket'
        ? new Docker({ socketPath: connection.socketPath })
        : new Docker({ host: connection.host, port: connection.port, protocol: connection.protocol });
  }

  static fromEnv(env: Readonly<Record<string, string | undefined>>): DockerodeEngine {
    let connection: DockerConnection;
    try {
      connection = parseDockerHost(env);
    } catch (err) {
      throw new DockerUnavailableError(env.DOCKER_HOST ?? '(unset)', err);
    }
    return new DockerodeEngine(connection);
  }

  async ping(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.docker.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${PING_TIMEOUT_MS / 1000} s`)), PING_TIMEOUT_MS);
        }),
      ]);
    } catch (err) {
      throw new DockerUnavailableError(`DOCKER_HOST=${this.endpoint}`, err);
    } finally {
      clearTimeout(timer);
    }
  }

  async inspectImage(ref: string): Promise<ImageInfo | null> {
    try {
      const info = await this.docker.getImage(ref).inspect();
      return {
        id: info.Id,
        architecture: info.Architecture,
        os: info.Os,
        labels: (info.Config?.Labels as Record<string, string> | null) ?? {},
      };
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
  }

  async buildImage(request: ImageBuildRequest, onOutput: (line: string) => void): Promise<ImageInfo> {
    const context = packFiles(request.contextDir, request.files);
    const stream = await this.docker.buildImage(context as unknown as NodeJS.ReadableStream, {
      t: request.tag,
      dockerfile: request.dockerfile,
      buildargs: request.buildArgs,
      labels: request.labels,
      rm: true,
      forcerm: true,
    });
    const tail: string[] = [];
    const remember = (line: string) => {
      tail.push(line);
      if (tail.length > LOG_TAIL_LINES) tail.shift();
      onOutput(line);
    };
    // The build API answers 200 and reports failure inside the stream, so every JSON line is
    // read and an `error` line rejects, even though the stream itself ends normally.
    let failure: string | null = null;
    let pending = '';
    const handle = (raw: string) => {
      if (!raw.trim()) return;
      let message: { stream?: string; error?: string; errorDetail?: { message?: string }; status?: string };
      try {
        message = JSON.parse(raw);
      } catch {
        remember(raw);
        return;
      }
      if (message.error || message.errorDetail) {
        failure = message.errorDetail?.message ?? message.error ?? 'unknown error';
        return;
      }
      const text = message.stream ?? message.status;
      if (text) for (const line of text.split('\n')) if (line.trim()) remember(line.replace(/\s+$/, ''));
    };
    for await (const chunk of stream as unknown as AsyncIterable<Buffer>) {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      lines.forEach(handle);
    }
    handle(pending);
    if (failure !== null) throw new ImageBuildError(request.tag, failure, tail);
    const info = await this.inspectImage(request.tag);
    if (!info) throw new ImageBuildError(request.tag, 'the build reported success but the tag does not exist', tail);
    return info;
  }

  async createContainer(spec: ContainerSpec): Promise<ContainerHandle> {
    const container = await this.docker.createContainer({
      Image: spec.image,
      Cmd: [...spec.cmd],
      Env: spec.env ? [...spec.env] : undefined,
      WorkingDir: spec.workingDir,
      Labels: spec.labels,
      HostConfig: {
        // No network is needed to compile: sources come in as a tar stream.
        NetworkMode: 'none',
        ...(spec.volumes ? { Mounts: spec.volumes.map((v) => ({ Type: 'volume' as const, Source: v.name, Target: v.target })) } : {}),
      },
    });
    return new DockerodeContainer(container);
  }

  async ensureVolume(name: string, labels: Record<string, string>): Promise<void> {
    try {
      await this.docker.getVolume(name).inspect();
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
      await this.docker.createVolume({ Name: name, Labels: labels });
    }
  }
}

class DockerodeContainer implements ContainerHandle {
  constructor(private readonly container: Docker.Container) {}

  get id(): string {
    return this.container.id;
  }

  async putArchive(tar: Readable, path: string): Promise<void> {
    await this.container.putArchive(tar as unknown as NodeJS.ReadableStream, { path });
  }

  async run(): Promise<RunResult> {
    await this.container.start();
    const result = (await this.container.wait()) as { StatusCode: number };
    const logs = (await this.container.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
    return { exitCode: result.StatusCode, output: demuxDockerStream(logs) };
  }

  async getArchive(path: string): Promise<Readable> {
    return (await this.container.getArchive({ path })) as unknown as Readable;
  }

  async readEntry(path: string): Promise<FsEntry | null> {
    let tar: Readable;
    try {
      tar = await this.getArchive(path);
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
    return readFirstEntry(tar);
  }

  async remove(): Promise<void> {
    try {
      await this.container.remove({ force: true, v: true });
    } catch (err) {
      if (statusOf(err) !== 404 && statusOf(err) !== 409) throw err;
    }
  }
}
