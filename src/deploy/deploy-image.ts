import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DockerEngine } from '../docker/engine.js';
import { repoDigestFor, repositoryOf } from '../docker/image-ref.js';
import { BuilderError, ImageNotFoundError } from '../errors.js';
import { normalTagRef, parseTagRef } from '../docker/tag-ref.js';
import { TrustError } from '../trust/trust-error.js';
import { parseStatement } from '../trust/statement.js';
import { printable } from '../util/printable.js';
import { acceptInCandidate, PLUGIN_DIR, TRUST_DIR } from './accept-in-candidate.js';

export { PLUGIN_DIR, TRUST_DIR };
import type { Lockfile } from '../lock/lockfile.js';
import { platformFile } from '../lock/platform.js';
import { checkArtifactsSigned, verifyLockfileSignature } from '../trust/lockfile-signature.js';
import type { TrustedKey } from '../trust/keys.js';
import { sha256Hex } from '../util/sha256.js';
import { copyLockedFile } from '../lock/copy-locked-file.js';
import { verifyPlugins, type VerifyReport } from '../verify/verify-plugins.js';

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
  /** The platform the deployed host runs (`linux/amd64`): the section its runtime will pick. */
  platform: string;
  /**
   * Every image the config and the lockfile name (host images, builder images, builder bases):
   * the deploy tag may name none of them, or the next build would take the deploy image for one.
   */
  referencedImages: readonly string[];
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
  /** What the deployed runtime will make of the lockfile: the key ids whose signature verified (none: unsigned). */
  trust: { signedBy: string[]; keys: number };
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
    });
  }
  if (request.trustKey) {
    // Early, and the same answer the candidate's runtime gives below: a key to trust means a signature is required.
    if (!request.signature) {
      throw new TrustError('UNSIGNED_LOCKFILE', `--trust-key makes the deployed host require a signature, and the lockfile has none (${TRUST_DIR} will hold ${request.trustKey.name}).`, 'Sign it (`builder sign --key KEY`, or build with --sign-key), then deploy.');
    }
    const verdict = verifyLockfileSignature(request.lockBytes, request.signature.toString('utf8'), [request.trustKey.key]);
    checkArtifactsSigned(lock, verdict.statement, request.platformDir);
  }
  const lockSha = sha256Hex(request.lockBytes);
  const tag = request.tag ?? `${repositoryOf(lock.host.image)}-plugins:${lockSha.slice(0, 12)}`;
  await refuseTag(engine, tag, request.referencedImages, [lock.host.imageId, lock.builder.imageId, ...(lock.builder.base ? [lock.builder.base.imageId] : [])]);
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
    // The deployed signature's serial becomes the image's rollback floor: after a restart, its
    // host still refuses any older signed set (the runtimes read BUILDER_HOST_MIN_SERIAL).
    const floor = request.signature ? signedSerial(request.signature) : 0;
    await writeFile(
      join(context, 'Dockerfile'),
      [`FROM ${lock.host.imageId}`, `COPY plugins/ ${PLUGIN_DIR}/`, ...(request.trustKey ? [`COPY trust/ ${TRUST_DIR}/`] : []), ...(floor > 0 ? [`ENV BUILDER_HOST_MIN_SERIAL=${floor}`] : [])].join('\n') + '\n',
    );
    request.report(`building ${tag} from ${lock.host.image} (${lock.host.imageId.slice(0, 19)})`);
    built = true;
    const image = await engine.buildImage({ contextDir: context, files: ['Dockerfile', ...files], dockerfile: 'Dockerfile', tag: scratch, buildArgs: {}, labels }, () => {});
    request.report(`verifying ${image.id.slice(0, 19)}: its own ${PLUGIN_DIR}, its own loader`);
    request.report(`accepting the lockfile as the candidate's runtime will: its ${TRUST_DIR}, its ${PLUGIN_DIR}`);
    const trust = await acceptInCandidate(engine, scratch, request.platform);
    const verify = await verifyPlugins(engine, { lock, image: scratch, pluginsPath: request.platformDir ? `${PLUGIN_DIR}/${request.platformDir}` : PLUGIN_DIR });
    if (verify.outcome !== 'ok') {
      const problems = verify.plugins.flatMap((p) => p.problems.map((x) => `  - ${p.name}: ${x.check}: ${x.message}`));
      throw new BuilderError('DEPLOY_VERIFY_FAILED', `The deployable image does not pass verify; it was not tagged:\n${problems.join('\n') || `  - ${verify.outcome}`}`, {
        fix: 'Run `builder verify` for the details, fix what it names (usually: rebuild with `builder build`), then deploy again.',
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
    return { image: tag, imageId: image.id, base: { name: lock.host.image, imageId: lock.host.imageId, digest }, labels, verify, trust, pushed };
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

/**
 * The deploy tag: a valid reference (checked before anything is built), and never one that
 * names an image the project builds from — by name (any spelling) or by what it points to now.
 * Moving the host tag to the deploy image would make the next build take it for the host.
 */
async function refuseTag(engine: DockerEngine, tag: string, referenced: readonly string[], lockedIds: readonly string[]): Promise<void> {
  const parsed = parseTagRef(tag);
  if ('problem' in parsed) {
    throw new BuilderError('BAD_TAG', `--tag ${printable(JSON.stringify(tag))} is not an image tag: ${parsed.problem}.`, {
      fix: 'Give REPOSITORY[:TAG], e.g. registry.example.com/team/app-plugins:v2 (lowercase path, tag of letters, digits, _ . -).',
    });
  }
  const normal = normalTagRef(tag);
  // The tool's own repositories: a builder image another project reuses by tag, the scratch name
  // deploy verifies under, compiler caches. A deploy image there would be taken for one of them.
  if (/^docker\.io\/plugin-builder\/(builder|deploy-candidate|compiler-cache)(:|$)/.test(normal ?? '') || /-compiler-cache$/.test(parsed.tag)) {
    throw new BuilderError('DEPLOY_TAG_REFUSED', `--tag ${printable(tag)} is refused: it is one of plugin-builder's own image names (builder images, deploy candidates, compiler caches), which other builds reuse by tag.`, {
      fix: 'Tag the deploy image under your own repository (the default is <host repository>-plugins:<lockfile sha256>).',
    });
  }
  const sameName = referenced.find((ref) => normalTagRef(ref) === normal);
  const current = sameName === undefined ? await engine.inspectImage(tag) : null;
  const ids = new Set(lockedIds);
  for (const ref of referenced) {
    const info = current ? await engine.inspectImage(ref) : null;
    if (info) ids.add(info.id);
  }
  if (sameName !== undefined || (current && ids.has(current.id))) {
    const why = sameName !== undefined ? `it names ${sameName}, an image the config or lockfile builds from` : `it now points to ${current!.id.slice(0, 19)}, an image the config or lockfile builds from`;
    throw new BuilderError('DEPLOY_TAG_REFUSED', `--tag ${printable(tag)} is refused: ${printable(why)}; tagging the deploy image there would move it, and the next build would take the deploy image for it.`, {
      fix: 'Tag the deploy image under its own name (the default is <host repository>-plugins:<lockfile sha256>).',
    });
  }
}

/** The serial in a signature's statement (unverified: a forged one fails verification in the candidate anyway), or 0. */
function signedSerial(envelope: Buffer): number {
  try {
    const { payload } = JSON.parse(envelope.toString('utf8')) as { payload?: unknown };
    return typeof payload === 'string' ? parseStatement(Buffer.from(payload, 'base64')).serial : 0;
  } catch {
    return 0;
  }
}
