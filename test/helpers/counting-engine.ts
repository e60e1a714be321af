import type { Readable } from 'node:stream';
import type { ContainerHandle, ContainerSpec, ContainerSummary, DockerEngine, ImageBuildRequest, ImageInfo } from '../../src/docker/engine.js';

interface Counts {
  containersCreated: number;
  imagesBuilt: number;
  /** Every container asked for, as asked. */
  specs?: ContainerSpec[];
}

/** The real engine, counting what the build asks of it (containers created, images built), scoped copies included. */
export class CountingEngine implements DockerEngine {
  constructor(
    private readonly inner: DockerEngine,
    private readonly counts: Counts = { containersCreated: 0, imagesBuilt: 0, specs: [] },
  ) {}

  get containersCreated(): number {
    return this.counts.containersCreated;
  }
  get containerSpecs(): readonly ContainerSpec[] {
    return this.counts.specs ?? [];
  }
  get imagesBuilt(): number {
    return this.counts.imagesBuilt;
  }
  get endpoint(): string {
    return this.inner.endpoint;
  }
  ping(): Promise<void> {
    return this.inner.ping();
  }
  inspectImage(ref: string): Promise<ImageInfo | null> {
    return this.inner.inspectImage(ref);
  }
  pullImage(ref: string, onOutput: (line: string) => void): Promise<ImageInfo> {
    return this.inner.pullImage(ref, onOutput);
  }
  tagImage(image: string, ref: string): Promise<void> {
    return this.inner.tagImage(image, ref);
  }
  removeImage(ref: string): Promise<void> {
    return this.inner.removeImage(ref);
  }
  importImage(tar: Readable, ref: string, labels: Record<string, string>): Promise<ImageInfo> {
    return this.inner.importImage(tar, ref, labels);
  }

  pushImage(ref: string, onOutput: (line: string) => void): Promise<string> {
    return this.inner.pushImage(ref, onOutput);
  }
  buildImage(request: ImageBuildRequest, onOutput: (line: string) => void): Promise<ImageInfo> {
    this.counts.imagesBuilt++;
    return this.inner.buildImage(request, onOutput);
  }
  createContainer(spec: ContainerSpec): Promise<ContainerHandle> {
    this.counts.containersCreated++;
    this.counts.specs?.push(spec);
    return this.inner.createContainer(spec);
  }
  ensureVolume(name: string, labels: Record<string, string>): Promise<void> {
    return this.inner.ensureVolume(name, labels);
  }
  listContainers(labels: Record<string, string>): Promise<ContainerSummary[]> {
    return this.inner.listContainers(labels);
  }
  removeContainer(id: string): Promise<void> {
    return this.inner.removeContainer(id);
  }
  scoped(scope: { signal?: AbortSignal; labels?: Record<string, string> }): DockerEngine {
    return new CountingEngine(this.inner.scoped(scope), this.counts);
  }
}
