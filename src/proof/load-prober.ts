import type { DockerEngine } from '../docker/engine.js';
import { managedLabels } from '../docker/engine.js';

/** Where a builder image keeps the proof's default loading program (Dockerfile.builder compiles images/load-prober.c there). */
export const LOAD_PROBER_PATH = '/usr/local/lib/plugin-builder/load-prober';

const probers = new Map<string, Buffer>();

/**
 * The load-prober a builder image compiled against its host's C library, read once per builder
 * image (a created, never started container). null when the image has none (made by an older
 * Dockerfile.builder) or is not on the engine.
 */
export async function readLoadProber(engine: DockerEngine, builderImage: string): Promise<Buffer | null> {
  const info = await engine.inspectImage(builderImage);
  if (!info) return null;
  const known = probers.get(info.id);
  if (known) return known;
  const container = await engine.createContainer({ image: info.id, cmd: ['/never-runs'], labels: managedLabels('probe') });
  try {
    const entry = await container.readEntry(LOAD_PROBER_PATH);
    if (entry?.type !== 'file') return null;
    probers.set(info.id, entry.data);
    return entry.data;
  } finally {
    await container.remove();
  }
}
