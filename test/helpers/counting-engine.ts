import type { ContainerHandle, ContainerSpec, DockerEngine, ImageBuildRequest, ImageInfo } from '../../src/docker/engine.js';

/** The real engine, counting what the build asks of it (containers created, images built). */
export class CountingEngine implements DockerEngine {
  containersCreated = 0;
  imagesBuilt = 0;

  constructor(private readonly inner: DockerEngine) {}

  get endpoint(): string {
    return this.inner.endpoint;
  }
  ping(): Promise<void> {
    return this.inner.ping();
  }
  inspectImage(ref: string): Promise<ImageInfo | null> {
    return this.inner.inspectImage(ref);
  }
  buildImage(request: ImageBuildRequest, onOutput: (line: string) => void): Promise<ImageInfo> {
    this.imagesBuilt++;
    return this.inner.buildImage(request, onOutput);
  }
  createContainer(spec: ContainerSpec): Promise<ContainerHandle> {
    this.containersCreated++;
    return this.inner.createContainer(spec);
  }
  ensureVolume(name: string, labels: Record<string, string>): Promise<void> {
    return this.inner.ensureVolume(name, labels);
  }
}
