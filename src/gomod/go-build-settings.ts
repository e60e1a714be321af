/**
 * A Go host binary's recorded build settings as what a build must be given to match them: flags
 * of `go build` and environment variables. A plugin (and the proof's Go prober) built without
 * them hashes its shared packages differently and the Go runtime refuses it.
 */

/** -trimpath, -race/-msan/-asan, -gcflags, -asmflags — each changes package hashes (a debugger's `all=-N -l` too). */
export function goHostFlags(host: Readonly<Record<string, string>>): string[] {
  return [
    ...(host['-trimpath'] === 'true' ? ['-trimpath'] : []),
    ...(['-race', '-msan', '-asan'] as const).filter((flag) => host[flag] === 'true'),
    ...(host['-gcflags'] ? [`-gcflags=${host['-gcflags']}`] : []),
    ...(host['-asmflags'] ? [`-asmflags=${host['-asmflags']}`] : []),
  ];
}

/** cgo as the host had it, its build tags (GOFLAGS, so `go list` selects the same files), GOAMD64 & co., and musl's gcc wrapper when a glibc builder targets musl. */
export function goHostEnvironment(host: Readonly<Record<string, string>>, cCompiler: 'gcc' | 'musl-gcc' = 'gcc'): string[] {
  const env = [`CGO_ENABLED=${host.CGO_ENABLED ?? '1'}`];
  if (cCompiler === 'musl-gcc') env.push('CC=musl-gcc');
  if (host['-tags']) env.push(`GOFLAGS=-tags=${host['-tags']}`);
  for (const key of ['GOAMD64', 'GOARM', 'GOARM64', 'GOEXPERIMENT'] as const) if (host[key]) env.push(`${key}=${host[key]}`);
  return env;
}
