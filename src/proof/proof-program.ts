import { posix } from 'node:path';

/** The Go module whose canary entry a Go host's proof runs (go/pluginhost). */
export const PLUGINHOST_MODULE = 'github.com/plugin-builder/pluginhost';

/**
 * The program that proves a build's artifacts load: the host's own load path, in a container of
 * the host image.
 * - node-runtime: the image runs `builder host`; its own runtime's `canary` entry opens, seals,
 *   hashes, loads (koffi) and binds each plugin's manifest, as `builder host` does.
 * - go-pluginhost: the image's Go host binary (host.binary), started as the image starts it, with
 *   PLUGINHOST_CANARY set: pluginhost.Open then runs the host's checks, plugin.Open and Register
 *   on the given plugins, reports and exits.
 * - command: host.loader from the config, run once per artifact with its path appended.
 * - go-prober: a Go host that does not use pluginhost: a small plugin.Open program built in the
 *   builder image with the host binary's Go release and settings (go-prober.ts).
 * - load-prober: a small dlopen(RTLD_NOW | RTLD_LOCAL) program compiled in the builder image
 *   against the host's C library (images/load-prober.c).
 */
export type ProofProgram =
  | { kind: 'node-runtime'; argv: readonly string[] }
  | { kind: 'go-pluginhost'; argv: readonly string[]; binary: string }
  | { kind: 'command'; argv: readonly string[] }
  | { kind: 'go-prober'; binary: string }
  | { kind: 'load-prober' };

/** A proof that cannot be run here, and why (reported; the lockfile says "not proven"). */
export interface NoProofProgram {
  kind: 'none';
  reason: string;
}

export interface ProgramFacts {
  /** config host.loader */
  loader?: readonly string[];
  /** config host.binary (a Go host) */
  hostBinary?: string;
  /** The Go host binary's module dependencies (its build info), when it is one. */
  goDeps?: ReadonlyArray<{ path: string }>;
  entrypoint: readonly string[];
  cmd: readonly string[];
}

const BUILDER_SCRIPT = /(^|\/)builder(\.c?js|\.mjs)?$/;

/** The argv before `host` when the image runs `… builder.js host …`; null when it does not. */
export function nodeRuntimeArgv(argv: readonly string[]): string[] | null {
  for (let i = 1; i < argv.length; i++) {
    if (argv[i] === 'host' && BUILDER_SCRIPT.test(argv[i - 1]!)) return argv.slice(0, i);
  }
  return null;
}

export function chooseProofProgram(facts: ProgramFacts): ProofProgram | NoProofProgram {
  if (facts.loader && facts.loader.length > 0) return { kind: 'command', argv: facts.loader };
  const argv = [...facts.entrypoint, ...facts.cmd];
  if (facts.hostBinary) {
    // No canary entry of its own: a prober with its Go and settings (host.loader, when set, was chosen above).
    if (facts.goDeps && !facts.goDeps.some((d) => d.path === PLUGINHOST_MODULE)) return { kind: 'go-prober', binary: facts.hostBinary };
    // The image's own start when it runs the host binary (its flags, e.g. -trust-dir, apply), else the binary alone.
    const first = argv[0];
    const startsHost = first !== undefined && (first === facts.hostBinary || posix.basename(first) === posix.basename(facts.hostBinary));
    return { kind: 'go-pluginhost', argv: startsHost ? argv : [facts.hostBinary], binary: facts.hostBinary };
  }
  const node = nodeRuntimeArgv(argv);
  if (node) return { kind: 'node-runtime', argv: node };
  return { kind: 'load-prober' };
}

/** How the lockfile and the report name the program. */
export function describeProofProgram(program: ProofProgram): string {
  switch (program.kind) {
    case 'node-runtime':
      return `${program.argv.join(' ')} canary (the host runtime: sealed copy, sha256, koffi, manifest)`;
    case 'go-pluginhost':
      return `${program.argv.join(' ')} with PLUGINHOST_CANARY (pluginhost checks, plugin.Open, Register)`;
    case 'command':
      return `host.loader: ${program.argv.join(' ')} FILE`;
    case 'go-prober':
      return `go-prober: plugin.Open, built with the Go release and settings of ${program.binary}`;
    case 'load-prober':
      return 'load-prober: dlopen(FILE, RTLD_NOW | RTLD_LOCAL)';
  }
}
