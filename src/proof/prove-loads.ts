import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { PassThrough, Readable } from 'node:stream';
import * as tarStream from 'tar-stream';
import type { ContainerHandle, DockerEngine } from '../docker/engine.js';
import { managedLabels } from '../docker/engine.js';
import { BuilderError } from '../errors.js';
import { lastWords, ProofLines } from '../runtime/canary-protocol.js';
import type { ProofProgram } from './proof-program.js';

/** Where the artifacts (and the load-prober) are in the proof's container: an anonymous volume. */
export const PROOF_DIR = '/builder-proof';
/** A proof whose loads take longer is stopped; the file being loaded fails with that reason. */
export const DEFAULT_PROOF_LIMIT_MS = 120_000;

export interface ProofArtifact {
  name: string;
  /** Its file name (unique in the run), as deployed. */
  file: string;
  /** Where its bytes are here (or `data`: the bytes themselves, already read). */
  path?: string;
  data?: Buffer;
  sha256: string;
  size: number;
}

export interface ProofVerdict {
  result: 'loaded' | 'failed';
  /** The loader's own message, or how the loading process ended. */
  message?: string;
}

export interface ProofRequest {
  /** The host image's ID: the container is of exactly the image probed. */
  imageId: string;
  program: ProofProgram;
  artifacts: readonly ProofArtifact[];
  /** The prober's bytes: the load-prober (load-prober and command programs) or the Go prober. */
  prober?: Buffer;
  limitMs?: number;
}

/** The proof itself could not run (the loading program is missing or does not speak the protocol). */
export class ProofUnavailableError extends BuilderError {
  constructor(message: string, fix: string) {
    super('PROOF_UNAVAILABLE', message, { fix });
  }
}

/**
 * Load every artifact in throwaway containers of the host image, by the host's own loading
 * program: no network, read-only root, no capabilities, the image's own Env, WorkingDir and User.
 * One container holds them all; a process that dies in a load (a constructor's SIGSEGV, ld.so's
 * assertion) fails that artifact with its exit status and last stderr lines, and the artifacts it
 * never reached get a container of their own. Verdicts by artifact name.
 */
export async function proveLoads(engine: DockerEngine, request: ProofRequest): Promise<Map<string, ProofVerdict>> {
  const verdicts = new Map<string, ProofVerdict>();
  let remaining = [...request.artifacts];
  while (remaining.length > 0) {
    const round = await proveRound(engine, request, remaining);
    for (const [name, verdict] of round) verdicts.set(name, verdict);
    const next = remaining.filter((a) => !verdicts.has(a.name));
    // Every round settles at least the artifact it died in; a round that settles nothing cannot happen, but must not loop.
    if (next.length === remaining.length) throw new Error('a proof round settled no artifact');
    remaining = next;
  }
  return verdicts;
}

async function proveRound(engine: DockerEngine, request: ProofRequest, artifacts: readonly ProofArtifact[]): Promise<Map<string, ProofVerdict>> {
  const nonce = randomBytes(16).toString('hex');
  const pathOf = (a: ProofArtifact) => `${PROOF_DIR}/${a.file}`;
  const lines = new ProofLines(nonce, new Set(artifacts.map(pathOf)));
  const limitMs = request.limitMs ?? DEFAULT_PROOF_LIMIT_MS;
  const limit = AbortSignal.timeout(limitMs);
  const scoped = engine.scoped({ signal: limit });
  const { entrypoint, cmd, env } = containerCommand(request.program, nonce, artifacts.map((a) => ({ name: a.name, path: pathOf(a), sha256: a.sha256 })));
  let result: { exitCode: number; output: string } | null = null;
  let container: ContainerHandle | undefined;
  let reading: Promise<void> | undefined;
  try {
    container = await scoped.createContainer({
      image: request.imageId,
      entrypoint,
      cmd,
      ...(env.length ? { env } : {}),
      labels: managedLabels('proof'),
      confined: true,
      scratch: PROOF_DIR,
      stdin: true,
    });
    await container.putArchive(proofArchive(artifacts, request.prober ? { name: proberName(request.program), bytes: request.prober } : null), PROOF_DIR);
    const run = await container.runPiped(Readable.from([]), (stdout) => {
      reading = (async () => {
        for await (const chunk of stdout as AsyncIterable<Buffer>) lines.push(chunk);
        lines.end();
      })();
      return reading;
    });
    // A run that exits non-zero returns before its output is read to the end: the verdicts are judged on all of it.
    await reading?.catch(() => undefined);
    result = { exitCode: run.exitCode, output: run.output };
  } catch (err) {
    if (!limit.aborted) throw err;
  } finally {
    await container?.remove();
  }
  // Code loaded in the process can print anything, the nonce included: a success is believed only
  // from a run that ended as the program ends (its report done, exit 0 or 1). After a run that
  // died, only its failures and the file it died in stand; the rest are proven again.
  const normal = result !== null && lines.done && (result.exitCode === 0 || result.exitCode === 1);
  const verdicts = new Map<string, ProofVerdict>();
  for (const a of artifacts) {
    const event = lines.results.get(pathOf(a));
    if (event?.state === 'loaded' && normal) verdicts.set(a.name, { result: 'loaded' });
    if (event?.state === 'failed') verdicts.set(a.name, { result: 'failed', message: event.message ?? 'failed' });
  }
  const culprit = !normal && lines.unfinished ? artifacts.find((a) => pathOf(a) === lines.unfinished) : undefined;
  const how = result === null ? `did not finish loading within ${limitMs / 1000} s` : describeEnd(result.exitCode);
  if (culprit) {
    verdicts.set(culprit.name, { result: 'failed', message: `the loading process ${how} while loading it${lastWords(result?.output ?? '')}` });
  } else if (!normal && verdicts.size === 0 && [...lines.results.values()].some((e) => e.state !== 'loading')) {
    // It reported on files, then died outside any load (a destructor, a plugin's own exit): nothing it said stands.
    for (const a of artifacts) verdicts.set(a.name, { result: 'failed', message: `the loading process ${how} after reporting, outside any load${lastWords(result?.output ?? '')}` });
  } else if (verdicts.size === 0) {
    // Nothing was even begun: the loading program did not run, or does not speak the protocol.
    if (result === null) throw new ProofUnavailableError(`The proof's loading program did not start within ${limitMs / 1000} s in ${request.imageId.slice(0, 19)}.`, 'Check the host image starts; or build with --no-prove.');
    throw new ProofUnavailableError(
      `The proof's loading program in the host image (${request.imageId.slice(0, 19)}) reported nothing: it ${describeEnd(result.exitCode)}${lastWords(result.output)}`,
      fixFor(request.program),
    );
  }
  return verdicts;
}

function describeEnd(exitCode: number): string {
  // The engine reports a process killed by signal N as 128 + N.
  if (exitCode > 128 && exitCode < 160) return `was killed by signal ${exitCode - 128} (exit status ${exitCode})`;
  if (exitCode === -1) return 'was stopped at its time limit';
  return `exited with status ${exitCode}`;
}

function fixFor(program: ProofProgram): string {
  switch (program.kind) {
    case 'node-runtime':
      return 'The host image\'s runtime predates `builder canary`: rebuild the host image with this version (scripts/make-host-image.sh), or build with --no-prove.';
    case 'go-pluginhost':
      return 'The Go host must call pluginhost.Open when started as the image starts it, with a pluginhost that has the canary entry (PLUGINHOST_CANARY); rebuild it with this go/pluginhost, set host.loader, or build with --no-prove.';
    case 'command':
      return 'host.loader must be a command in the host image that loads the file given as its last argument and exits 0 when it loaded.';
    case 'go-prober':
      return 'The Go prober could not run in the host image: set host.loader to a command that loads one plugin the way the host does, or build with --no-prove.';
    case 'load-prober':
      return 'The load-prober could not run in the host image (no dynamic loader for its C library?): set host.loader, or build with --no-prove.';
  }
}

const proberName = (program: ProofProgram) => (program.kind === 'go-prober' ? 'go-prober' : 'load-prober');

/** `NAME=SHA256=PATH`: what the runtimes' canary entries take for one plugin (names and hashes hold no "="). */
export const canaryArgument = (t: { name: string; path: string; sha256: string }) => `${t.name}=${t.sha256}=${t.path}`;

export const CANARY_ENV = 'PLUGINHOST_CANARY';
export const CANARY_FILES_ENV = 'PLUGINHOST_CANARY_FILES';

function containerCommand(program: ProofProgram, nonce: string, targets: ReadonlyArray<{ name: string; path: string; sha256: string }>): { entrypoint: string[]; cmd: string[]; env: string[] } {
  const prober = `${PROOF_DIR}/load-prober`;
  const files = targets.map((t) => t.path);
  switch (program.kind) {
    case 'node-runtime':
      return { entrypoint: [...program.argv], cmd: ['canary', '--nonce', nonce, ...targets.map(canaryArgument)], env: [] };
    case 'go-pluginhost':
      return { entrypoint: [...program.argv], cmd: [], env: [`${CANARY_ENV}=${nonce}`, `${CANARY_FILES_ENV}=${targets.map(canaryArgument).join('\n')}`] };
    case 'command':
      return { entrypoint: [prober], cmd: [nonce, 'exec', ...files, '--', ...program.argv], env: [] };
    case 'go-prober':
      return { entrypoint: [`${PROOF_DIR}/go-prober`], cmd: [nonce, ...files], env: [] };
    case 'load-prober':
      return { entrypoint: [prober], cmd: [nonce, 'dlopen', ...files], env: [] };
  }
}

/**
 * The container's inputs as one tar stream: each artifact as a root-owned 0444 file, hashed as
 * it is sent (bytes that are not the locked ones fail the proof instead of being proven), and
 * the load-prober (0555) when the program needs it.
 */
function proofArchive(artifacts: readonly ProofArtifact[], prober: { name: string; bytes: Buffer } | null): Readable {
  const pack = tarStream.pack();
  const out = new PassThrough();
  pack.pipe(out);
  pack.on('error', (err) => out.destroy(err));
  void (async () => {
    try {
      if (prober) await addBuffer(pack, prober.name, prober.bytes, 0o555);
      for (const a of artifacts) await addFile(pack, a);
      pack.finalize();
    } catch (err) {
      out.destroy(err as Error);
    }
  })();
  return out;
}

const header = (name: string, size: number, mode: number) => ({ name, size, mode, uid: 0, gid: 0, uname: '', gname: '', mtime: new Date(0), type: 'file' as const });

function addBuffer(pack: tarStream.Pack, name: string, data: Buffer, mode: number): Promise<void> {
  return new Promise((resolve, reject) => pack.entry(header(name, data.length, mode), data, (err) => (err ? reject(err) : resolve())));
}

async function addFile(pack: tarStream.Pack, artifact: ProofArtifact): Promise<void> {
  if (artifact.data) {
    if (createHash('sha256').update(artifact.data).digest('hex') !== artifact.sha256) throw new BuilderError('HASH_MISMATCH', `${artifact.file}: its bytes are not the ones to prove.`);
    return addBuffer(pack, artifact.file, artifact.data, 0o444);
  }
  const path = artifact.path;
  if (!path) throw new Error(`proof artifact ${artifact.file} has neither a path nor its bytes`);
  if (artifact.size === 0) return addBuffer(pack, artifact.file, Buffer.alloc(0), 0o444);
  const hash = createHash('sha256');
  await new Promise<void>((resolve, reject) => {
    const entry = pack.entry(header(artifact.file, artifact.size, 0o444), (err) => (err ? reject(err) : resolve()));
    const source = createReadStream(path, { start: 0, end: artifact.size - 1 });
    source.on('data', (chunk) => hash.update(chunk));
    source.on('error', reject);
    source.pipe(entry);
  });
  const actual = hash.digest('hex');
  if (actual !== artifact.sha256) throw new BuilderError('HASH_MISMATCH', `${artifact.path} changed before its proof: sha256 ${actual}, built ${artifact.sha256}.`);
}

