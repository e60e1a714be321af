/**
 * Typed errors. The library never prints or exits: `cli/` maps these to messages and exit
 * codes. Every error says what went wrong, names the culprit, and (in `fix`) what to do.
 */

/** Exit code for "the job ran and the answer is no" (build failed, bytes differ, mismatch). */
export const EXIT_FAILED = 1;
/** Exit code for "the job could not run" (bad config, no engine, unreadable input). */
export const EXIT_UNUSABLE = 2;

import { ERROR_CODES, type ErrorCode } from './error-codes.js';
import { printable } from './util/printable.js';

export class BuilderError extends Error {
  readonly code: ErrorCode;
  readonly fix: string | undefined;
  /** The code's exit status in the catalogue (src/error-codes.ts): one code, one exit status. */
  readonly exitCode: number;

  constructor(code: ErrorCode, message: string, options: { fix?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.fix = options.fix;
    this.exitCode = ERROR_CODES[code].exit;
  }
}

export interface ConfigIssue {
  /** Dotted path of the offending field, e.g. `plugins[1].kind`; `(root)` for the file itself. */
  field: string;
  message: string;
}

export class ConfigError extends BuilderError {
  readonly issues: readonly ConfigIssue[];
  constructor(file: string, issues: readonly ConfigIssue[]) {
    super(
      'CONFIG_INVALID',
      `${file} is invalid:\n` + issues.map((i) => `  - ${i.field}: ${i.message}`).join('\n'),
      { fix: `Correct the fields listed above in ${file}.` },
    );
    this.issues = issues;
  }
}

export class DockerUnavailableError extends BuilderError {
  /** `where`: the engine and how it was found (`ssh://ci@build:22 (DOCKER_HOST)`); `fix`: the remedy for that kind of engine. */
  constructor(where: string, cause: unknown, fix: string) {
    super('DOCKER_UNAVAILABLE', `No Docker engine answers at ${where}: ${printable(describeCause(cause))}`, { fix, cause });
  }
}

/** DOCKER_HOST, --host, DOCKER_CONTEXT or the docker config name no engine this tool can reach. */
export class EngineAddressError extends BuilderError {
  constructor(message: string) {
    super('ENGINE_ADDRESS_INVALID', message, {
      fix: 'Give --host, DOCKER_HOST or a docker context one of unix:///path/to/docker.sock, tcp://HOST:PORT (TLS with DOCKER_TLS_VERIFY=1) or ssh://[USER@]HOST[:PORT].',
    });
  }
}

/** The engine went away in the middle of a call: a closed socket, a stream cut short, no answer to a ping. */
export class EngineLostError extends BuilderError {
  constructor(endpoint: string, during: string, detail: string, cause?: unknown) {
    super('ENGINE_LOST', `Lost the Docker engine at ${endpoint} while ${during}: ${printable(detail)}.`, {
      fix: `Check that the engine (and any proxy or SSH tunnel to it) is up, then run the build again; nothing was written. Containers this run had started may remain on the engine: the next \`builder build\` removes them.`,
      ...(cause === undefined ? {} : { cause }),
    });
  }
}

/** The engine did not answer a call within its time limit. */
export class EngineTimeoutError extends BuilderError {
  constructor(endpoint: string, during: string, ms: number, option: string) {
    super('ENGINE_TIMEOUT', `The Docker engine at ${endpoint} did not answer within ${ms / 1000} s while ${during}.`, {
      fix: `Check the engine's health (docker info); if it is only slow, raise ${option}. Nothing was written.`,
    });
  }
}

/** The engine answered a call with an HTTP error the caller did not expect. */
export class EngineRequestError extends BuilderError {
  readonly statusCode: number;
  /** The engine's own words. */
  readonly detail: string;
  constructor(endpoint: string, during: string, statusCode: number, message: string) {
    super('ENGINE_ERROR', `The Docker engine at ${endpoint} refused ${during}: ${printable(message.trim())}`, {
      fix: 'Read the engine\'s message above; `docker info` and the engine log say more.',
    });
    this.statusCode = statusCode;
    this.detail = message.trim();
  }
}

/** The run was stopped: a signal, a closed output, or another plugin's fatal error. */
export class CancelledError extends BuilderError {
  /** 128 + the signal's number (130 for SIGINT, 143 for SIGTERM), as a shell reports a killed job; 141 for a closed output. */
  override readonly exitCode: number;
  constructor(readonly reason: string, exitCode: number) {
    super('CANCELLED', `Stopped (${reason}): build containers of this run removed, staging removed, outDir and the lockfile untouched.`);
    this.exitCode = exitCode;
  }
}

export class ImageNotFoundError extends BuilderError {
  constructor(image: string, role: string) {
    super('IMAGE_NOT_FOUND', `The ${role} image ${image} is not present on the Docker engine.`, {
      fix:
        role === 'host'
          ? `Pull it with \`builder build --pull\` (or docker pull ${image}), or build / load it (docker build, docker load).`
          : `Build or load ${image} first (docker build / docker load; docker pull if it comes from a registry).`,
    });
  }
}

export class ImagePushError extends BuilderError {
  constructor(image: string, reason: string) {
    super('IMAGE_PUSH_FAILED', `Pushing image ${image} failed: ${reason}`, {
      fix: 'Check that the registry in the reference is reachable from the Docker engine and accepts pushes (docker login for one that needs credentials).',
    });
  }
}

export class ImagePullError extends BuilderError {
  constructor(image: string, reason: string) {
    super('IMAGE_PULL_FAILED', `Pulling image ${image} failed: ${reason}`, {
      fix: 'Check the reference (repository, tag or @sha256 digest), that the registry is reachable from the Docker engine, and its credentials (docker login).',
    });
  }
}

export class ImageBuildError extends BuilderError {
  readonly logTail: readonly string[];
  constructor(image: string, reason: string, logTail: readonly string[]) {
    super(
      'IMAGE_BUILD_FAILED',
      `Building image ${image} failed: ${reason}` +
        (logTail.length > 0 ? `\nLast build output:\n${logTail.map((l) => `  | ${l}`).join('\n')}` : ''),
      { fix: 'Read the build output above; a package name or the base image is the usual culprit.' },
    );
    this.logTail = logTail;
  }
}

export class ProbeError extends BuilderError {
  constructor(what: string, message: string) {
    super('PROBE_FAILED', `Cannot determine the environment of ${what}: ${message}`, {
      fix: 'The image must contain /etc/os-release (or /usr/lib/os-release) and a glibc or musl C library.',
    });
  }
}

export interface FieldDifference {
  field: string;
  expected: string;
  actual: string;
}

export function formatDifferences(differences: readonly FieldDifference[]): string {
  return differences.map((d) => `  - ${d.field}: ${d.expected} → ${d.actual}`).join('\n');
}

export class EnvironmentMismatchError extends BuilderError {
  readonly differences: readonly FieldDifference[];
  constructor(subject: string, differences: readonly FieldDifference[], fix: string) {
    super('ENVIRONMENT_MISMATCH', `${subject}:\n${formatDifferences(differences)}`, { fix });
    this.differences = differences;
  }
}

export class UnsafeArtifactError extends BuilderError {
  constructor(entry: string, reason: string) {
    super('UNSAFE_ARTIFACT', `Refused build output entry "${entry}": ${reason}`, {
      fix: 'A plugin build may only produce regular files directly inside its output directory.',
    });
  }
}

export class LockfileError extends BuilderError {
  constructor(file: string, message: string) {
    super('LOCKFILE_INVALID', `${file}: ${message}`, {
      fix: `Regenerate it with \`builder build\`, or restore it from version control.`,
    });
  }
}

const ERRNO_FIX: Record<string, (path: string) => string> = {
  ENOSPC: (p) => `Free space on the filesystem holding ${p} (df ${p}), then run the build again.`,
  EDQUOT: (p) => `Free space within your quota on the filesystem holding ${p}, then run the build again.`,
  EROFS: (p) => `${p} is on a read-only filesystem: point outDir / lockfile at a writable place inside the project.`,
  EACCES: (p) => `Make ${p} writable by this user (or run as the owner of the project).`,
  EPERM: (p) => `Make ${p} writable by this user (or run as the owner of the project).`,
};

/** A file the tool had to write or create could not be; names the path and what to do. */
export class OutputWriteError extends BuilderError {
  readonly path: string;
  constructor(path: string, cause: unknown, what = 'write') {
    const code = (cause as NodeJS.ErrnoException | null)?.code;
    super('WRITE_FAILED', `Cannot ${what} ${path}: ${code ? `${code} (${describeErrno(cause)})` : describeCause(cause)}.`, {
      fix: (code && ERRNO_FIX[code]?.(path)) ?? `Check that ${path} can be written, then run the build again.`,
      cause,
    });
    this.path = path;
  }
}

function describeErrno(cause: unknown): string {
  const message = describeCause(cause);
  // Node's messages repeat the code and the path: "ENOSPC: no space left on device, write".
  return message.replace(/^[A-Z]+: /, '').replace(/, \w+( '.*')?$/, '');
}

export function describeCause(cause: unknown): string {
  if (cause instanceof Error) return cause.message;
  return String(cause);
}

/** A plugin the caller asked for (or a .so found on disk) is not in the lockfile. */
export class UnknownPluginError extends BuilderError {
  constructor(name: string, detail = 'it is not in the lockfile') {
    super('UNKNOWN_PLUGIN', `Plugin "${name}" is not loadable: ${detail}.`, {
      fix: 'Only plugins listed in builder.lock.json are loaded: build it with `builder build` and deploy the new lockfile.',
    });
  }
}

export class HashMismatchError extends BuilderError {
  readonly expected: string;
  readonly actual: string;
  constructor(name: string, file: string, expected: string, actual: string) {
    super('HASH_MISMATCH', `Plugin "${name}" (${file}): sha256 ${actual} does not match the lockfile's ${expected}.`, {
      fix: 'The file was modified or belongs to another build: deploy the .so and the lockfile from the same `builder build`.',
    });
    this.expected = expected;
    this.actual = actual;
  }
}

export class BadManifestError extends BuilderError {
  constructor(name: string, reason: string) {
    super('BAD_MANIFEST', `Plugin "${name}" has no usable manifest: ${reason}.`, {
      fix: 'Export `const char *builder_plugin_manifest(void)` returning {"name","version","functions":{"Fn":"<koffi prototype>"}}.',
    });
  }
}

export class PluginLoadError extends BuilderError {
  constructor(name: string, file: string, loaderMessage: string) {
    super('LOAD_FAILED', `Plugin "${name}" (${file}) could not be loaded: ${loaderMessage}`, {
      fix: 'Run `builder verify` against this host image to see which library or symbol version is missing.',
    });
  }
}

/** The throwaway process that loaded a new version first (the canary) died in the load. */
export class CanaryCrashedError extends BuilderError {
  constructor(name: string, file: string, how: string) {
    super('CANARY_CRASHED', `Plugin "${name}" (${file}): the canary process that loaded it first ${how}`, {
      fix: 'The serving version keeps serving. Run `builder verify --real` against this host image, and rebuild the plugin with `builder build` (its proof loads it in the host image).',
    });
  }
}

/** A call that cannot be made as asked (unknown function, wrong arguments). */
export class BadCallError extends BuilderError {
  readonly status: number;
  constructor(message: string, status = 400, code: 'BAD_CALL' | 'CALL_TIMEOUT' | 'PLUGIN_STUCK' | 'CALLS_BUSY' = 'BAD_CALL') {
    super(code, message);
    this.status = status;
  }
}

/** The lockfile as a whole was refused by the host runtime; nothing new from it loads. */
export class LockfileRefusedError extends BuilderError {
  constructor(code: 'LOCKFILE_MISSING' | 'LOCKFILE_TOO_LARGE' | 'PLATFORM_NOT_LOCKED', message: string, fix: string) {
    super(code, message, { fix });
  }
}

/** A reload did not finish within its time limit; it was abandoned and committed nothing. */
export class ReloadTimeoutError extends BuilderError {
  constructor(ms: number) {
    super('RELOAD_TIMEOUT', `The reload did not finish within ${ms} ms and was abandoned; what served before keeps serving.`, {
      fix: 'Look for a plugin file on a slow or hung filesystem; raise --reload-timeout if the files are just large.',
    });
  }
}
