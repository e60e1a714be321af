/**
 * The registry the project starts (scripts/ensure-registry.sh: Debian's docker-registry on
 * 127.0.0.1:5000). In CI one must answer; elsewhere its tests are skipped, loudly.
 */
export const REGISTRY = process.env.PB_REGISTRY_ADDR ?? '127.0.0.1:5000';

const answering = await fetch(`http://${REGISTRY}/v2/`, { signal: AbortSignal.timeout(2000) }).then(
  (r) => r.ok,
  () => false,
);
if (!answering && process.env.CI !== 'true') console.warn(`[registry tests skipped: nothing answers on http://${REGISTRY}/v2/ — run scripts/ensure-registry.sh]`);

export const skipRegistry = !answering && process.env.CI !== 'true';

/** Call in beforeAll: fails in CI when the registry does not answer. */
export function requireRegistry(): void {
  if (!answering) throw new Error(`no registry answers on http://${REGISTRY}/v2/ (scripts/ensure-registry.sh starts one)`);
}
