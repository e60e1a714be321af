import { DockerodeEngine } from '../../src/docker/dockerode-engine.js';

/**
 * Docker tests run against the real engine. In CI (CI=true) an unreachable engine is a
 * failure, never a skip: `requireDocker()` throws there. Elsewhere the suite is skipped with
 * a loud reason so a laptop without Docker can still run the unit tests.
 */
export const engine = DockerodeEngine.fromEnv(process.env);

const reachable = await engine.ping().then(
  () => true,
  (err: unknown) => {
    if (process.env.CI === 'true') return false;
    console.warn(`[docker tests skipped: ${(err as Error).message}]`);
    return false;
  },
);

/** True when docker tests must be skipped (only ever outside CI). */
export const skipDocker = !reachable && process.env.CI !== 'true';

/** Call in beforeAll: fails the suite in CI when no engine answers. */
export async function requireDocker(): Promise<void> {
  if (!reachable) await engine.ping();
}

export const HOST_BOOKWORM = 'plugin-builder/example-host:bookworm';
export const HOST_TRIXIE = 'plugin-builder/example-host:trixie';
export const BASE_BOOKWORM = 'plugin-builder/debian:bookworm';
export const BASE_TRIXIE = 'plugin-builder/debian:trixie';
export const HOST_MUSL = 'plugin-builder/musl-host:trixie';
/** arm64 images (made by scripts/setup.sh; they run here under qemu). */
export const HOST_ARM64 = 'plugin-builder/example-host:bookworm-arm64';
export const HOST_MUSL_ARM64 = 'plugin-builder/musl-host:bookworm-arm64';
export const HOST_NOZLIB = 'plugin-builder/nozlib-host:bookworm';
export const GO_HOST_BOOKWORM = 'plugin-builder/go-host:bookworm';
export const GO_HOST_SHARED11 = 'plugin-builder/go-host-shared11:bookworm';
export const GO_HOST_TRIXIE = 'plugin-builder/go-host:trixie';
/** The example Go host compiled with musl-gcc and linked against musl, in a musl-only image (examples/go-host/Dockerfile.musl). */
export const GO_HOST_MUSL = 'plugin-builder/go-musl-host:bookworm';
/** The example Go host built without -trimpath, from /src/host and /src/shared (where builder puts a plugin's sources too). */
export const GO_HOST_NOTRIM = 'plugin-builder/go-host-notrim:bookworm';
/** The same, built from /work/app/host and /work/app/shared, with -tags=extra (which changes the shared package). */
export const GO_HOST_NOTRIM_ELSEWHERE = 'plugin-builder/go-host-notrim-elsewhere:bookworm';
/** The example Go host built with -race, and with -gcflags="all=-N -l" (a debugger's build). */
export const GO_HOST_RACE = 'plugin-builder/go-host-race:bookworm';
export const GO_HOST_DEBUG = 'plugin-builder/go-host-debug:bookworm';
