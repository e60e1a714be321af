import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DockerEngine } from '../docker/engine.js';
import { repoDigestFor, repositoryOf } from '../docker/image-ref.js';
import { BuilderError, EXIT_FAILED, ImageNotFoundError } from '../errors.js';
import type { Lockfile } from '../lock/lockfile.js';
import { platformFile } from '../lock/platform.js';
import { checkArtifactsSigned, verifyLockfileSignature } from '../trust/lockfile-signature.js';
import type { TrustedKey } from '../trust/keys.js';
import { sha256Hex } from '../util/sha256.js';
import { copyLockedFile } from '../util/copy-locked-file.js';
import { verifyPlugins, type VerifyReport } from '../verify/verify-plugins.js';

/** Where the host runtimes look: `builder host --plugins /app/plugins`, `gohost -plugins /app/plugins -trust-dir /app/trust`. */
export const PLUGIN_DIR = '/app/plugins';
export const TRUST_DIR = '/app/trust';

export interface DeployRequest {
  /** The deployed platform's entries (the whole lockfile, for a single-platform one). */
  lock: Lockfile;
  /** Where they lie under the plugin directory: '' or `<os>-<arch>` (a multi-platform lockfile). */
  platformDir: string;
  /** The lockfile's exact bytes (what is deployed, and what a signature covers). */
  lockBytes: Buffer;
  /** The built plugin files. */
  dir: string;
  /** The lockfile's DSSE envelope, when it was signed. */
  signature: Buffer | null;
  /** A public key to deploy to TRUST_DIR (the signature must verify under it). */
  trustKey: { name: string; pem: Buffer; key: TrustedKey } | null;
  /** The image reference to tag; default `<host repository>-plugins:<lockfile sha256, 12>`. */
  tag?: string;
  push: boolean;
  toolVersion: string;
  report: (message: string) => void;
}

export interface DeployResult {
  image: string;
  imageId: string;
  base: { name: string; imageId: string; digest: string | null };
  labels: Record<string, string>;
  verify: VerifyReport;
  /** `repo@sha256:…` after --push. */
  pushed: string | null;
}

/**
 * `builder deploy`: the host image the plugins were built for, plus the plugins, the lockfile,
 * its signature and a trust key, at the runtimes' paths. Refused before any image is made when
 * the host image moved or an artifact is not the locked one; the image is verified (its own
 * copies, against its own loader) under a temporary name and tagged only if it passes.
 */
export async function deployImage(engine: DockerEngine, request: DeployRequest): Promise<DeployResult> {
  const { lock } = request;
  const host = await engine.inspectImage(lock.host.image);
  if (!host) throw new ImageNotFoundError(lock.host.image, 'host');
  if (host.id !== lock.host.imageId) {
    throw new BuilderError('HOST_IMAGE_MOVED', `The host image ${lock.host.image} is now ${host.id}; the plugins were built for ${lock.host.imageId}.`, {
      fix: `See what changed with \`builder drift --image ${lock.host.image}\`, rebuild with \`builder build\`, then deploy.`,
      exitCode: EXIT_FAILED,
    });
  }
  if (request.signature && request.trustKey) {
    const verdict = verifyLockfileSignature(request.lockBytes, request.signature.toString('utf8'), [request.trustKey.key]);
    checkArtifactsSigned(lock, verdict.statement, request.platformDir);
  }
  const lockSha = sha256Hex(request.lockBytes);
  const tag = request.tag ?? `${repositoryOf(lock.host.image)}-plugins:${lockSha.slice(0, 12)}`;
  const context = await mkdtemp(join(tmpdir(), 'builder-deploy-'));
  const scratch = `plugin-builder/deploy-candidate:${lockSha.slice(0, 12)}-${process.pid}`;
  let built = false;
  try {
    const files = await stageFiles(request, context);
    const digest = repoDigestFor(lock.host.image, host.repoDigests)?.split('@')[1] ?? null;
    const labels = {
      'org.opencontainers.image.base.name': lock.host.image,
      'org.opencontainers.image.base.digest': digest ?? lock.host.imageId,
      'io.plugin-builder.lockfile.sha256': lockSha,
      'io.plugin-builder.fingerprint-hash': lock.host.fingerprintHash,
      'io.plugin-builder.version': request.toolVersion,
    };
    await writeFile(
      join(context, 'Dockerfile'),
      [`FROM ${lock.host.imageId}`, `COPY plugins/ ${PLUGIN_DIR}/`, ...(request.trustKey ? [`COPY trust/ ${TRUST_DIR}/`] : [])].join('\n') + '\n',
    );
    request.report(`building ${tag} from ${lock.host.image} (${lock.host.imageId.slice(0, 19)})`);
    built = true;
    const image = await engine.buildImage({ contextDir: context, files: ['Dockerfile', ...files], dockerfile: 'Dockerfile', tag: scratch, buildArgs: {}, labels }, () => {});
    request.report(`verifying ${image.id.slice(0, 19)}: its own ${PLUGIN_DIR}, its own loader`);
    const verify = await verifyPlugins(engine, { lock, image: scratch, pluginsPath: request.platformDir ? `${PLUGIN_DIR}/${request.platformDir}` : PLUGIN_DIR });
    if (verify.outcome !== 'ok') {
      const problems = verify.plugins.flatMap((p) => p.problems.map((x) => `  - ${p.name}: ${x.check}: ${x.message}`));
      throw new BuilderError('DEPLOY_VERIFY_FAILED', `The deployable image does not pass verify; it was not tagged:\n${problems.join('\n') || `  - ${verify.outcome}`}`, {
        fix: 'Run `builder verify` for the details, fix what it names (usually: rebuild with `builder build`), then deploy again.',
        exitCode: EXIT_FAILED,
      });
    }
    await engine.tagImage(image.id, tag);
    request.report(`tagged ${tag} (${image.id.slice(0, 19)})`);
    let pushed: string | null = null;
    if (request.push) {
      request.report(`pushing ${tag}`);
      pushed = `${repositoryOf(tag)}@${await engine.pushImage(tag, () => {})}`;
      request.report(`pushed ${pushed}`);
    }
    return { image: tag, imageId: image.id, base: { name: lock.host.image, imageId: lock.host.imageId, digest }, labels, verify, pushed };
  } finally {
    if (built) await engine.removeImage(scratch);
    await rm(context, { recursive: true, force: true });
  }
}

/**
 * Copy every artifact into the build context and hash the copy: what goes into the image is
 * what was checked, whatever happens to the originals meanwhile. Returns the context's files.
 */
async function stageFiles(request: DeployRequest, context: string): Promise<string[]> {
  // A multi-platform lockfile is deployed whole (its signature covers every platform); only
  // this platform's artifacts go in, in the subdirectory the runtimes look in.
  await mkdir(join(context, 'plugins', request.platformDir), { recursive: true });
  const files: string[] = [];
  for (const [name, entry] of Object.entries(request.lock.plugins).sort(([a], [b]) => (a < b ? -1 : 1))) {
    const file = platformFile(request.platformDir, entry.file);
    await copyLockedFile(join(request.dir, entry.file), join(context, 'plugins', file), name, entry);
    files.push(`plugins/${file}`);
  }
  await writeFile(join(context, 'plugins', 'builder.lock.json'), request.lockBytes);
  files.push('plugins/builder.lock.json');
  if (request.signature) {
    await writeFile(join(context, 'plugins', 'builder.lock.json.sig'), request.signature);
    files.push('plugins/builder.lock.json.sig');
  }
  if (request.trustKey) {
    await mkdir(join(context, 'trust'));
    await writeFile(join(context, 'trust', request.trustKey.name), request.trustKey.pem);
    files.push(`trust/${request.trustKey.name}`);
  }
  return files;
}

