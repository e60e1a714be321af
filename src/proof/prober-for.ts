import type { DockerEngine } from '../docker/engine.js';
import { goHostEnvironment, goHostFlags } from '../gomod/go-build-settings.js';
import { buildGoProber } from './go-prober.js';
import { readLoadProber } from './load-prober.js';
import type { ProofProgram } from './proof-program.js';

export interface ProberSource {
  /** The builder image that compiles (Go prober) or holds (load-prober) the prober. */
  builderImageId: string;
  /** The Go host binary's recorded build settings (its fingerprint's go.settings). */
  goSettings: Readonly<Record<string, string>>;
  cCompiler: 'gcc' | 'musl-gcc';
}

/**
 * The prober a loading program needs in the proof's container: the builder image's load-prober
 * (load-prober, host.loader) or a Go prober built for the host's settings. undefined: the program
 * needs none; null: the builder image is not on the engine, or has no load-prober.
 */
export async function proberFor(engine: DockerEngine, program: ProofProgram, source: ProberSource): Promise<Buffer | null | undefined> {
  if (program.kind === 'go-prober') {
    if (!(await engine.inspectImage(source.builderImageId))) return null;
    return buildGoProber(engine, { builderImageId: source.builderImageId, flags: goHostFlags(source.goSettings), env: goHostEnvironment(source.goSettings, source.cCompiler) });
  }
  if (program.kind !== 'load-prober' && program.kind !== 'command') return undefined;
  return readLoadProber(engine, source.builderImageId);
}
