import type { DockerEngine } from '../docker/engine.js';
import { managedLabels } from '../docker/engine.js';
import { type LoaderCpuView, parseLdSoHelp } from './loader-cpu-view.js';

/**
 * Ask the image's own dynamic loader what it searches on this engine's CPU (`ld.so --help`,
 * glibc ≥ 2.33): the one answer that knows both the glibc version's rules and the CPU. The CPU
 * is the engine's — the deploying machine's may differ, which verify says. null when the loader
 * cannot tell (older glibc, a loader that does not run).
 */
export async function probeLoaderCpuView(engine: DockerEngine, imageId: string, interpreter: string): Promise<LoaderCpuView | null> {
  const container = await engine.createContainer({ image: imageId, entrypoint: [interpreter], cmd: ['--help'], labels: managedLabels('probe') });
  try {
    const run = await container.run();
    return run.exitCode === 0 ? parseLdSoHelp(run.output) : null;
  } finally {
    await container.remove();
  }
}
