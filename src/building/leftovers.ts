import { readdir, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { ProjectConfig } from '../config/config.js';
import type { DockerEngine } from '../docker/engine.js';
import { MANAGED_LABEL } from '../docker/engine.js';
import { isAlive, type ProcessIdentity } from '../util/process-identity.js';
import type { BuildReporter } from './build-events.js';
import { settled } from '../util/settled.js';

/** What a run leaves behind if it dies (containers, staging directories), and the next run's cleanup of it. */

/** Containers of one run carry its ID; the owner label lets a later run on this host remove what a dead one left. */
export const RUN_LABEL = 'io.plugin-builder.run';

export const OWNER_LABEL = 'io.plugin-builder.owner';

export const STAGING_PREFIX = '.builder-staging-';

export const HEARTBEAT_MS = 10_000;

export function ownerLabel(identity: ProcessIdentity): string {
  return `${identity.host}/${identity.pid}/${identity.start ?? ''}`;
}

function parseOwner(label: string): ProcessIdentity | null {
  const [host, pid, start] = label.split('/');
  return host && pid && /^\d+$/.test(pid) ? { host, pid: Number(pid), start: start || null } : null;
}

/**
 * What runs killed before they could clean up left behind (SIGKILL, power loss, an engine that
 * vanished): their staging directories and temp files beside the lockfile — safe to remove,
 * as this run holds the project lock — and the containers of dead runs on this host.
 */
export async function removeLeftovers(engine: DockerEngine, config: ProjectConfig, report: BuildReporter): Promise<void> {
  await settled(removeLeftoverFiles(config), removeLeftoverContainers(engine, report));
}

async function removeLeftoverFiles(config: ProjectConfig): Promise<void> {
  for (const dir of new Set([config.outDir, dirname(config.outDir)])) {
    for (const name of await readdir(dir).catch(() => [] as string[])) {
      if (name.startsWith(STAGING_PREFIX)) await rm(join(dir, name), { recursive: true, force: true });
    }
  }
  const lockBase = basename(config.lockfile);
  for (const name of await readdir(dirname(config.lockfile)).catch(() => [] as string[])) {
    if (name.endsWith('.tmp') && (name.startsWith(`.${lockBase}.`) || name.startsWith(`.${lockBase}.sig.`))) await rm(join(dirname(config.lockfile), name), { force: true });
  }
}

async function removeLeftoverContainers(engine: DockerEngine, report: BuildReporter): Promise<void> {
  const orphans = (await engine.listContainers({ [MANAGED_LABEL]: 'true' })).filter((c) => {
    const owner = parseOwner(c.labels[OWNER_LABEL] ?? '');
    return owner !== null && isAlive(owner) === false;
  });
  for (const orphan of orphans) await engine.removeContainer(orphan.id);
  if (orphans.length > 0) report({ type: 'step', message: `removed ${orphans.length} container(s) left by an interrupted earlier run` });
}

export async function removeRunContainers(engine: DockerEngine, runId: string): Promise<void> {
  for (const container of await engine.listContainers({ [RUN_LABEL]: runId })) await engine.removeContainer(container.id);
}
