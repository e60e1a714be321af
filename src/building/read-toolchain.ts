import type { DockerEngine } from '../docker/engine.js';
import { managedLabels } from '../docker/engine.js';

/**
 * Versions of the compilers in a builder image, for the lockfile. The builder is our own
 * image with a shell, so asking the tools is fine here (unlike probing a host image).
 */
export async function readToolchain(engine: DockerEngine, builderImageId: string): Promise<Record<string, string>> {
  const script = 'echo "gcc=$(gcc -dumpfullversion 2>/dev/null)"; echo "go=$(go env GOVERSION 2>/dev/null)"; echo "goroot=$(go env GOROOT 2>/dev/null)"';
  const container = await engine.createContainer({ image: builderImageId, cmd: ['sh', '-c', script], labels: managedLabels('toolchain') });
  try {
    const { output } = await container.run();
    return parseToolchainOutput(output);
  } finally {
    await container.remove();
  }
}

export function parseToolchainOutput(output: string): Record<string, string> {
  const toolchain: Record<string, string> = {};
  for (const line of output.split('\n')) {
    const match = /^(gcc|go|goroot)=(\S+)$/.exec(line.trim());
    if (match) toolchain[match[1] as string] = match[2] as string;
  }
  return toolchain;
}
