import type { DockerEngine } from '../docker/engine.js';
import type { Lockfile } from '../lock/lockfile.js';
import { proberFor } from '../proof/prober-for.js';
import { chooseProofProgram, describeProofProgram, type ProofProgram } from '../proof/proof-program.js';
import { proveLoads, ProofUnavailableError } from '../proof/prove-loads.js';
import type { PluginVerdict, Problem } from './verdict.js';

/** What the real loads of `verify --real` / `drift --real` found, for the whole report. */
export interface RealLoads {
  /** The loading program that ran; null when none could (then every answer is predicted). */
  program: string | null;
  /** Why no real load ran, when none did. */
  reason?: string;
}

export interface RealLoadInput {
  lock: Lockfile;
  imageId: string;
  entrypoint: readonly string[];
  cmd: readonly string[];
  goDeps?: ReadonlyArray<{ path: string }>;
  /** --loader-program: a command in the image that loads the file given as its last argument. */
  loaderProgram?: string;
  hostLoader?: readonly string[];
  /** The bytes of each plugin whose bytes are the locked ones (only those are loaded). */
  bytes: ReadonlyMap<string, Buffer>;
}

const MODEL_CHECKS_KEPT = new Set<Problem['check']>(['bytes', 'environment', 'elf']);

/**
 * Load the plugins for real in a container of the image (src/proof/) and put each answer beside
 * the model's. The real load wins: a plugin the model said fails but that loads keeps the
 * model's problems only as `model` (MODEL_DISAGREES); one the model said loads but that fails
 * gets the loader's message as a problem. What could not be loaded stays `predicted`.
 */
export async function addRealLoads(engine: DockerEngine, plugins: PluginVerdict[], input: RealLoadInput): Promise<RealLoads> {
  const program: ProofProgram | { kind: 'none'; reason: string } = input.loaderProgram
    ? { kind: 'command', argv: [input.loaderProgram] }
    : chooseProofProgram({
        ...(input.hostLoader ? { loader: input.hostLoader } : {}),
        ...(input.lock.host.binary ? { hostBinary: input.lock.host.binary } : {}),
        ...(input.goDeps ? { goDeps: input.goDeps } : {}),
        entrypoint: input.entrypoint,
        cmd: input.cmd,
      });
  if (program.kind === 'none') return notRun(plugins, program.reason);
  // A glibc builder targeting a musl host compiles cgo with musl's gcc wrapper, as the plugins were.
  const cCompiler = input.lock.host.fingerprint.libc.family === 'musl' && input.lock.builder.fingerprint.libc.family === 'glibc' ? 'musl-gcc' : 'gcc';
  const found = await proberFor(engine, program, { builderImageId: input.lock.builder.imageId, goSettings: input.lock.host.fingerprint.go?.settings ?? {}, cCompiler });
  if (found === null) return notRun(plugins, `the ${program.kind === 'go-prober' ? 'Go prober is built in' : 'load-prober comes from'} the lockfile's builder image (${input.lock.builder.imageId.slice(0, 19)}), which is not on this engine: run builder build (or builder prepare) here first`);
  const prober = found ?? undefined;
  const artifacts = plugins.flatMap((p) => {
    const data = input.bytes.get(p.name);
    const entry = input.lock.plugins[p.name];
    return data && entry ? [{ name: p.name, file: entry.file, data, sha256: entry.sha256, size: data.length }] : [];
  });
  if (artifacts.length === 0) return notRun(plugins, 'no plugin has its locked bytes here');
  const described = describeProofProgram(program);
  let verdicts;
  try {
    verdicts = await proveLoads(engine, { imageId: input.imageId, program, artifacts, ...(prober ? { prober } : {}) });
  } catch (err) {
    if (!(err instanceof ProofUnavailableError)) throw err;
    return notRun(plugins, `${err.message} ${err.fix ?? ''}`.trim());
  }
  for (const p of plugins) {
    const verdict = verdicts.get(p.name);
    if (!verdict) {
      p.answer = 'predicted';
      continue;
    }
    p.answer = 'proven';
    p.real = verdict.result === 'loaded' ? { result: 'loaded' } : { result: 'failed', message: verdict.message ?? 'failed' };
    const predicted = p.outcome;
    const modelProblems = p.problems.filter((x) => !MODEL_CHECKS_KEPT.has(x.check));
    if (verdict.result === 'loaded') {
      if (predicted === 'loads') continue;
      p.model = { outcome: predicted, problems: modelProblems, disagrees: true };
      p.problems = p.problems.filter((x) => MODEL_CHECKS_KEPT.has(x.check));
      p.loadable = true;
      p.outcome = 'loads';
    } else {
      const crashed = /the loading process (was killed|exited|did not finish)/.test(verdict.message ?? '');
      if (predicted === 'loads') p.model = { outcome: predicted, problems: [], disagrees: true };
      p.problems.push({ check: 'real-load', message: `the real load by ${described} failed: ${verdict.message ?? 'failed'}`, fix: 'rebuild the plugin with builder build against this host image (its proof loads it there); the message is the loader\'s own' });
      p.loadable = false;
      p.outcome = crashed ? 'crashes' : 'fails';
    }
  }
  return { program: described };
}

function notRun(plugins: PluginVerdict[], reason: string): RealLoads {
  for (const p of plugins) p.answer = 'predicted';
  return { program: null, reason };
}
