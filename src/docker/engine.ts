import type { Readable } from 'node:stream';
import type { RootEntryReader } from './fs-entry.js';

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
  /** Pull an image from its registry; resolves when the stream reported no error (rejects with ImagePullError). */
  pullImage(ref: string, onOutput: (line: string) => void): Promise<ImageInfo>;
  /** Give an image (by ID or reference) another reference `repo:tag`. */
  tagImage(image: string, ref: string): Promise<void>;
  /** Remove a reference (the image goes when nothing else references it); a missing one is fine. */
  removeImage(ref: string): Promise<void>;
  /** Push `repo:tag` to its registry; resolves to the manifest digest the registry reported. */
  pushImage(ref: string, onOutput: (line: string) => void): Promise<string>;
  /** Make an image of one layer from a tar stream, as `ref` (`repo:tag`), carrying `labels`. */
  importImage(tar: Readable, ref: string, labels: Record<string, string>): Promise<ImageInfo>;
  /** Build an image; resolves only when the stream reported no error (rejects with ImageBuildError). */
  buildImage(request: ImageBuildRequest, onOutput: (line: string) => void): Promise<ImageInfo>;
  createContainer(spec: ContainerSpec): Promise<ContainerHandle>;
  /** Create a named volume unless it exists (it lives in the engine, so remote engines work). */
  ensureVolume(name: string, labels: Record<string, string>): Promise<void>;
  /** Containers carrying every one of `labels`. */
  listContainers(labels: Record<string, string>): Promise<ContainerSummary[]>;
  /** Remove (forcibly) the container with this ID; an already removed one is fine. Never cancelled. */
  removeContainer(id: string): Promise<void>;
  /**
   * The same engine, whose calls also stop when `signal` aborts and whose containers also
   * carry `labels` (a run's own label, so whatever it leaves can be found).
   */
  scoped(scope: { signal?: AbortSignal; labels?: Record<string, string> }): DockerEngine;
}

export interface ContainerSummary {
  id: string;
  state: string;
  labels: Record<string, string>;
}

/** Time limits per kind of call: a compile may take minutes, an inspect may not. */
export interface EngineTimeouts {
  /** Calls that should be quick: ping, inspect, create, remove, list, volumes. */
  requestMs: number;
  /** Moving sources in and artifacts or logs out. */
  transferMs: number;
  /** A container run (a compile) and a builder image build. */
  runMs: number;
  /** How often a long call checks (with a ping on a new connection) that the engine still answers. */
  livenessMs: number;
}

export const DEFAULT_ENGINE_TIMEOUTS: EngineTimeouts = { requestMs: 30_000, transferMs: 600_000, runMs: 1_800_000, livenessMs: 3_000 };

export interface ImageInfo {
  /** `sha256:…` content ID of the image. */
  id: string;
  architecture: string;
  os: string;
  labels: Record<string, string>;
  /** The image config's Env (`KEY=value`), what a container of it starts with. */
  env: string[];
  /** The image config's Entrypoint and Cmd (empty when unset). */
  entrypoint: string[];
  cmd: string[];
  /** The image config's WorkingDir ('/' when unset): where a relative or empty search-path entry points. */
  workingDir?: string;
  /** `repo@sha256:…` for each registry the image was pushed to or pulled from. */
  repoDigests: string[];
  /** The diff IDs of its filesystem layers, lowest first (an image derived from another starts with all of its layers). */
  layers: string[];
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
  /** Replaces the image's Entrypoint when given. */
  entrypoint?: readonly string[];
  cmd: readonly string[];
  env?: readonly string[];
  workingDir?: string;
  labels?: Record<string, string>;
  /** Named volumes to mount: `{ name, target }`. */
  volumes?: ReadonlyArray<{ name: string; target: string }>;
  /**
   * A proof's container: read-only root, every capability dropped, no new privileges (the
   * network is always off). The image's own Env, WorkingDir and User apply as they are.
   */
  confined?: boolean;
  /**
   * An anonymous volume mounted here, filled with `putArchive` before the start: the one place a
   * confined container has its inputs (the engine writes into volumes of a read-only root), and
   * gone with the container.
   */
  scratch?: string;
  /** Keep stdin open, for `runPiped` (which reads the output from the connection: the engine keeps no log of it). */
  stdin?: boolean;
}

export interface RunResult {
  /** -1 when the run was stopped at its time limit. */
  exitCode: number;
  timedOut: boolean;
  /** The end of stdout and stderr, interleaved as the container wrote them (at most OUTPUT_TAIL_BYTES). */
  output: string;
  /** How many bytes of output the container wrote in all (more than `output` holds when it was cut). */
  outputBytes: number;
}

export interface PipedRunResult<T> extends RunResult {
  /** What `consume` made of stdout; null when the run was stopped at its time limit. */
  consumed: T | null;
}

/** Compiler output kept per run: the end, where the error is. */
export const OUTPUT_TAIL_BYTES = 64 * 1024;

export interface ContainerHandle extends RootEntryReader {
  readonly id: string;
  /** Unpack a tar stream at `path` inside the (not yet started) container. */
  putArchive(tar: Readable, path: string): Promise<void>;
  /** Start, wait for exit (stopping it at the run time limit), collect the end of its output. */
  run(): Promise<RunResult>;
  /**
   * Start (created with `stdin`), send `input` to its stdin, hand its stdout to `consume` as it
   * arrives, wait for exit (stopping it at the run time limit); stderr is the output kept. One
   * attached connection instead of archive calls before and after the run (each costs the
   * engine ~45 ms). `input` is never followed by an end-of-file: the container reads as many
   * bytes as it was told to. An error of `input` or of `consume` is the result, as it is.
   */
  runPiped<T>(input: Readable, consume: (stdout: Readable) => Promise<T>): Promise<PipedRunResult<T>>;
  /** Hand a tar stream of `path` inside the container (Docker's archive API) to `consume`, within the transfer limit. */
  readArchive<T>(path: string, consume: (tar: Readable) => Promise<T>): Promise<T>;
  /** Remove the container; never throws for an already removed one. */
  remove(): Promise<void>;
}

/** Every resource this tool creates carries this label, so leftovers can be found and removed. */
export const MANAGED_LABEL = 'io.plugin-builder.managed';
export const ROLE_LABEL = 'io.plugin-builder.role';

export function managedLabels(role: string, extra: Record<string, string> = {}): Record<string, string> {
  return { [MANAGED_LABEL]: 'true', [ROLE_LABEL]: role, ...extra };
}
