import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DockerEngine } from '../docker/engine.js';
import { managedLabels } from '../docker/engine.js';
import { listArchivedDirectory } from '../docker/tar-streams.js';
import { followingSymlinks } from '../env/file-source.js';
import { BuilderError } from '../errors.js';
import { acceptLockfile, isLockfileRefusal } from '../runtime/accept-lockfile.js';
import { DEFAULT_HOST_LIMITS } from '../runtime/host-types.js';
import { loadTrustedKeys } from '../runtime/trust-store.js';
import { printable } from '../util/printable.js';

/** Where the host runtimes look: `builder host --plugins /app/plugins --trust-dir /app/trust`, `gohost -plugins … -trust-dir …`. */
export const PLUGIN_DIR = '/app/plugins';
export const TRUST_DIR = '/app/trust';

// Entries of any kind listed in the trust directory; the runtime's own cap on keys (64) applies to the *.pub among them.
const MAX_TRUST_ENTRIES = 100_000;

/**
 * What the candidate image's runtime will make of its lockfile, found by the runtime's own code
 * (loadTrustedKeys, acceptLockfile) run on the candidate's own bytes: every `*.pub` its trust
 * directory holds — the host image's keys as well as the one deploy added — its lockfile and its
 * signature, copied out of a created (never started) container. Whatever the runtime would refuse
 * with (UNSIGNED_LOCKFILE, BAD_SIGNATURE, BAD_KEY, PLATFORM_NOT_LOCKED, …) fails the deploy here.
 */
export async function acceptInCandidate(engine: DockerEngine, image: string, platform: string): Promise<{ signedBy: string[]; keys: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'builder-deploy-accept-'));
  const container = await engine.createContainer({ image, cmd: ['/never-runs'], labels: managedLabels('probe') });
  try {
    const files = followingSymlinks(container);
    const trustDir = join(dir, 'trust');
    // The directory as the runtime opens it: through its links (the archive API would copy a link itself).
    const trustPath = await files.finalPath!(TRUST_DIR);
    const trustEntry = trustPath ? await files.readFinalEntry!(trustPath) : null;
    if (trustPath && trustEntry?.type === 'other' && trustEntry.directory) {
      // With the candidate's own modes: the runtime refuses a trust directory or key others may write.
      await mkdir(trustDir, { mode: trustEntry.mode ?? 0o755 });
      await chmod(trustDir, trustEntry.mode ?? 0o755);
      const names = await container.readArchive(trustPath, (tar) => listArchivedDirectory(tar, MAX_TRUST_ENTRIES));
      for (const name of names.filter((n) => n.endsWith('.pub'))) {
        // Each key as the runtime meets it: its file through its links, or something that is not one.
        const entry = await files.readFinalEntry!(`${trustPath}/${name}`);
        const final = await files.finalPath!(`${trustPath}/${name}`);
        const at = join(trustDir, name);
        // A link that leaves the trust directory stays one that leaves it here: the runtime refuses it.
        const outside = final !== null && final !== `${trustPath}/${name}` && !final.startsWith(`${trustPath}/`);
        const target = outside ? join(dir, 'outside', name) : at;
        if (outside) await mkdir(join(dir, 'outside'), { recursive: true });
        if (entry?.type === 'file') await writeFile(target, entry.data, { mode: entry.mode ?? 0o644 }).then(() => chmod(target, entry.mode ?? 0o644));
        else if (entry) await mkdir(target);
        if (outside) await symlink(target, at);
        else if (!entry) await symlink('/nonexistent', at);
      }
    }
    const lockfile = join(dir, 'builder.lock.json');
    const signature = `${lockfile}.sig`;
    for (const [from, to] of [[`${PLUGIN_DIR}/builder.lock.json`, lockfile], [`${PLUGIN_DIR}/builder.lock.json.sig`, signature]] as const) {
      const data = await files.readFile(from);
      if (data) await writeFile(to, data);
    }
    try {
      const keys = await loadTrustedKeys([], [trustDir]);
      const accepted = await acceptLockfile(lockfile, signature, keys, DEFAULT_HOST_LIMITS, platform);
      return { signedBy: accepted.signedBy, keys: keys.length };
    } catch (err) {
      if (!(err instanceof BuilderError) || !(isLockfileRefusal(err) || (err as BuilderError).code === 'BAD_KEY')) throw err;
      const inCandidate = (text: string) => printable(text.split(trustDir).join(TRUST_DIR).split(dir).join(PLUGIN_DIR));
      throw new BuilderError('DEPLOY_VERIFY_FAILED', `The deployable image's runtime would refuse its lockfile (${err.code}): ${inCandidate(err.message)} It was not tagged.`, {
        fix: err.fix ? inCandidate(err.fix) : 'Deploy a lockfile and signature the image trusts.',
      });
    }
  } finally {
    await container.remove();
    await rm(dir, { recursive: true, force: true });
  }
}
