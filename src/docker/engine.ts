import type { Readable } from 'node:stream';
import type { RootEntryReader } from '../env/file-source.js';

/**
 * The Docker operations this tool needs, in our own types. `DockerodeEngine` is the real one;
 * unit tests use small fakes. Everything that touches a daemon goes through here.
 */
export interface DockerEngine {
  /** Where the engine is, as a user would write DOCKER_HOST; used in messages. */
  readonly endpoint: string;
  /** Throws DockerUnavailableError when no engine answers. */
  ping(): Promise<void>;
  inspectImage(ref: string): Promise<ImageInfo | null>;
  /** Build an image; resolves only when the stream reported no error (rejects with ImageBuildError). */
  buildImage(request: ImageBuildRequest, onOutput: (line: string) => void): Promise<ImageInfo>;
  createContainer(spec: ContainerSpec): Promise<ContainerHandle>;
  /** Create a named volume unless it exists (it lives in the engine, so remote engines work). */
  ensureVolume(name: string, labels: Record<string, string>): Promise<void>;
}

export interface ImageInfo {
  /** `sha256:…` content ID of the image. */
  id: string;
  architecture: string;
  os: string;
  labels: Record<string, string>;
}

export interface ImageBuildRequest {
  /** Directory whose listed files form the build context. */
  contextDir: string;
  /** Context files relative to contextDir; only these are sent. */
  files: readonly string[];
  dockerfile: string;
  tag: string;
  buildArgs: Record<string, string>;
  labels: Record<string, string>;
}

export interface ContainerSpec {
  image: string;
  cmd: readonly string[];
  env?: readonly string[];
  workingDir?: string;
  labels?: Record<string, string>;
  /** Named volumes to mount: `{ name, target }`. */
  volumes?: ReadonlyArray<{ name: string; target: string }>;
}

export interface RunResult {
  exitCode: number;
  /** stdout and stderr, interleaved as the container wrote them. */
  output: string;
}

export interface ContainerHandle extends RootEntryReader {
  readonly id: string;
  /** Unpack a tar stream at `path` inside the (not yet started) container. */
  putArchive(tar: Readable, path: string): Promise<void>;
  /** Start, wait for exit, collect output. */
  run(): Promise<RunResult>;
  /** A tar stream of `path` inside the container (Docker's archive API). */
  getArchive(path: string): Promise<Readable>;
  /** Remove the container; never throws for an already removed one. */
  remove(): Promise<void>;
}

/** Every resource this tool creates carries this label, so leftovers can be found and removed. */
export const MANAGED_LABEL = 'io.plugin-builder.managed';
export const ROLE_LABEL = 'io.plugin-builder.role';

export function managedLabels(role: string, extra: Record<string, string> = {}): Record<string, string> {
  return { [MANAGED_LABEL]: 'true', [ROLE_LABEL]: role, ...extra };
}
