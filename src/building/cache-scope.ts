import { createHash } from 'node:crypto';
import { hostname } from 'node:os';

/**
 * The compiler cache's trust domain: one project directory (its real path) on one client
 * machine. A compiler cache answers "which object does this input make", and every build
 * mounts its cache read-write (ccache and Go write as they compile), so whatever one build runs
 * — a compiler plugin from its own sources, a build script — can rewrite any entry. A cache
 * shared by two projects would let one choose what the other links; so each domain gets its own
 * volume, and a build mounts only its own. Plugins of one project share it: they come from the
 * same repository, the same hands.
 */
export interface CacheScope {
  /** The engine volume: `plugin-builder-cache-<16 hex of sha256(host, project dir)>`. */
  volume: string;
  /** `host:/real/project/dir`, shown in messages and as the volume's label. */
  domain: string;
}

export const CACHE_DOMAIN_LABEL = 'io.plugin-builder.cache-domain';

export function compilerCacheScope(projectDir: string, host: string = hostname()): CacheScope {
  const domain = `${host}:${projectDir}`;
  return { volume: `plugin-builder-cache-${createHash('sha256').update(`${host}\0${projectDir}`).digest('hex').slice(0, 16)}`, domain };
}
