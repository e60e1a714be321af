import { type LockDocument, parseLockDocument, platformViews } from '../lock/lockfile.js';
import { platformDir } from '../lock/platform.js';
import { hexOf } from '../oci/descriptor.js';
import { checkLayersAgainstLockfile, parseSetDocument, SET_LIMITS, SetDocumentError, type SetManifest } from '../oci/parse-set.js';
import { formatReference, type Reference } from '../oci/reference.js';
import { LOCKFILE_TITLE, SIGNATURE_TITLE } from '../oci/media-types.js';
import { checkArtifactsSigned, verifyLockfileSignature } from '../trust/lockfile-signature.js';
import type { TrustedKey } from '../trust/keys.js';
import { TrustError } from '../trust/trust-error.js';
import type { PluginStore, SetRecord } from './plugin-store.js';
import type { RegistryClient } from './registry-client.js';
import { transportError } from './http.js';
import { RegistryError } from './registry-error.js';

export interface PullRequest {
  ref: Reference;
  /** One platform's part of a multi-platform set (a host), or all of it (null: `builder pull`). */
  platform: string | null;
  /** Signature required by one of these before any plugin blob is fetched; none: unsigned sets pass. */
  trustedKeys: readonly TrustedKey[];
  allowTag: boolean;
  /** Sets the collector must not remove (the one serving). */
  keep?: readonly string[];
  log: (level: 'info' | 'warn', message: string) => void;
  signal: AbortSignal;
}

export interface PulledSet {
  /** The digest the reference resolved to. */
  digest: string;
  /** `repo@sha256:…` */
  pinned: string;
  /** Its store key, and the plugin directory it is laid out as. */
  key: string;
  dir: string;
  /** Blobs fetched from the registry by this pull (0: all from the store). */
  fetched: number;
  fetchedBytes: number;
  /** Key ids whose signature verified (empty: no key trusted). */
  signedBy: string[];
}

/** Where a set's parts come from: the store when it has them (checked), else the registry. */
interface Source {
  document(digest: string, what: string): Promise<Buffer>;
  small(digest: string, size: number, max: number, what: string): Promise<Buffer>;
  blob(digest: string, size: number, what: string): Promise<void>;
  fetched: number;
  fetchedBytes: number;
  /** A part was missing or altered in the store: a set laid out from it before is laid out again. */
  repaired: boolean;
}

function sourceOf(client: RegistryClient | null, store: PluginStore, ref: Reference, request: PullRequest): Source {
  const name = `${ref.registry}/${ref.repository}`;
  const offline = (what: string) =>
    new RegistryError('REGISTRY_UNREACHABLE', `${what} is not in the store (${store.dir}) and the registry is not being asked.`, { transient: true });
  const source: Source = {
    fetched: 0,
    fetchedBytes: 0,
    repaired: false,
    async document(digest, what) {
      const stored = await store.readChecked(digest, SET_LIMITS.maxDocumentBytes);
      if (stored) return stored;
      if (!client) throw offline(what);
      const { bytes } = await client.getDocument(digest, request.signal);
      await store.writeDocument(digest, bytes);
      source.fetched++;
      source.fetchedBytes += bytes.length;
      return bytes;
    },
    async small(digest, size, max, what) {
      const stored = await store.readChecked(digest, max);
      if (stored && stored.length === size) return stored;
      await source.blob(digest, size, what);
      const bytes = await store.readChecked(digest, max);
      if (!bytes) throw new RegistryError('DIGEST_MISMATCH', `${what} changed in the store as it was written`);
      return bytes;
    },
    async blob(digest, size, what) {
      if (await store.hasBlob(digest, size)) return;
      source.repaired = true;
      if (!client) throw offline(what);
      const body = await client.openBlob(digest, request.signal);
      await store.writeBlob(digest, size, body, `${name}: ${what} (${digest})`);
      source.fetched++;
      source.fetchedBytes += size;
      request.log('info', `fetched ${what} (${size} bytes, ${digest.slice(0, 19)}…)`);
    },
  };
  return source;
}

/** A check of the set's documents, its SetDocumentError reported as SET_INVALID. */
function asSet<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof SetDocumentError) throw new RegistryError('SET_INVALID', err.message, { fix: 'Publish plugin sets with `builder publish`.' });
    throw err;
  }
}

/**
 * Fetch a plugin set by digest into the store and lay it out as a plugin directory: documents
 * checked against their digests, the signature checked against the trusted keys before any
 * plugin blob is fetched, every plugin blob pinned by the (signed) lockfile and checked as it
 * streams. With `client` null nothing is fetched: the set must be in the store (offline start).
 */
export async function pullSet(client: RegistryClient | null, store: PluginStore, request: PullRequest): Promise<PulledSet> {
  try {
    return await pull(client, store, request);
  } catch (err) {
    // What a refused pull stored (documents, a lockfile) is collected: it must not pile up.
    await store.collect(request.keep ?? []).catch(() => undefined);
    // A body cut off mid-stream (reset, the deadline) surfaces as a plain stream error.
    throw transportError(err, client?.origin ?? new URL('http://store'), request.signal);
  }
}

async function pull(client: RegistryClient | null, store: PluginStore, request: PullRequest): Promise<PulledSet> {
  const { ref } = request;
  let digest = ref.digest;
  if (!digest) {
    if (!request.allowTag) {
      throw new RegistryError('TAG_REFUSED', `${formatReference(ref)} names a tag; plugin sets are pulled by digest, because a tag can be moved to other bytes.`, { fix: 'Use REPO@sha256:… (what `builder publish` printed), or --allow-tag to resolve the tag once.' });
    }
    if (!client) throw new RegistryError('REGISTRY_UNREACHABLE', `${formatReference(ref)} is a tag, and a tag can only be resolved by the registry.`, { transient: true });
    const fetched = await client.getDocument(ref.tag ?? 'latest', request.signal);
    digest = fetched.digest;
    request.log('warn', `tag ${formatReference(ref)} resolved to ${digest}: this digest is what is pulled (pin it to avoid the lookup)`);
    await store.writeDocument(digest, fetched.bytes);
  }
  const pinnedRef = `${ref.registry}/${ref.repository}@${digest}`;
  const source = sourceOf(client, store, ref, request);
  const topBytes = await source.document(digest, `the set ${pinnedRef}`);
  const top = asSet(() => parseSetDocument(topBytes, pinnedRef));
  let manifests: Array<{ digest: string; platform: string | null; manifest: SetManifest }>;
  let key = hexOf(digest);
  if (top.kind === 'index') {
    const wanted = request.platform === null ? top.platforms : top.platforms.filter((p) => p.platform === request.platform);
    if (wanted.length === 0) {
      throw new RegistryError('SET_INVALID', `${pinnedRef} holds plugins for ${top.platforms.map((p) => p.platform).join(', ')}; this host is ${request.platform}.`, { fix: `Add "${request.platform}" to host.platforms, build, and publish again.` });
    }
    if (request.platform !== null) key = `${key}-${platformDir(request.platform)}`;
    manifests = [];
    for (const entry of wanted) {
      const bytes = await source.document(entry.digest, `the ${entry.platform} manifest of ${pinnedRef}`);
      if (bytes.length !== entry.size) throw new RegistryError('DIGEST_MISMATCH', `${pinnedRef}: the ${entry.platform} manifest is ${bytes.length} bytes; the index says ${entry.size}`);
      const manifest = asSet(() => parseSetDocument(bytes, `${pinnedRef} (${entry.platform})`));
      if (manifest.kind !== 'manifest') throw new RegistryError('SET_INVALID', `${pinnedRef}: the ${entry.platform} entry is an index inside an index`);
      manifests.push({ digest: entry.digest, platform: entry.platform, manifest });
    }
  } else {
    manifests = [{ digest, platform: null, manifest: top }];
  }
  const existing = await store.existingSet(key);
  const lockDescriptor = manifests[0]!.manifest.lockfile;
  if (manifests.some((m) => m.manifest.lockfile.digest !== lockDescriptor.digest || m.manifest.signature?.digest !== manifests[0]!.manifest.signature?.digest)) {
    throw new RegistryError('SET_INVALID', `${pinnedRef}: its platforms carry different lockfiles or signatures; a set has one.`);
  }
  const lockBytes = await source.small(lockDescriptor.digest, lockDescriptor.size, SET_LIMITS.maxLockfileBytes, 'the lockfile');
  const sigDescriptor = manifests[0]!.manifest.signature;
  const sigBytes = sigDescriptor ? await source.small(sigDescriptor.digest, sigDescriptor.size, SET_LIMITS.maxSignatureBytes, 'the signature') : null;
  let document: LockDocument;
  try {
    document = parseLockDocument(lockBytes.toString('utf8'), `${pinnedRef} ${LOCKFILE_TITLE}`);
  } catch (err) {
    throw new RegistryError('SET_INVALID', `${pinnedRef}: its lockfile is not valid: ${(err as Error).message}`);
  }
  let signedBy: string[] = [];
  if (request.trustedKeys.length > 0) {
    if (!sigBytes) throw new TrustError('UNSIGNED_LOCKFILE', `${pinnedRef} carries no signature, and signatures are required (trusted keys are configured).`, 'Sign the lockfile (`builder sign`) before `builder publish`.');
    const verdict = verifyLockfileSignature(lockBytes, sigBytes.toString('utf8'), request.trustedKeys);
    const views = platformViews(document).filter((v) => request.platform === null || v.platform === request.platform || !Object.hasOwn(document, 'platforms'));
    for (const view of views) checkArtifactsSigned(view.lock, verdict.statement, view.dir);
    signedBy = verdict.keyIds;
  }
  for (const m of manifests) asSet(() => checkLayersAgainstLockfile(m.manifest, document, m.platform, m.platform ? `${pinnedRef} (${m.platform})` : pinnedRef));
  const files: SetRecord['files'] = [{ path: LOCKFILE_TITLE, digest: lockDescriptor.digest }, ...(sigDescriptor ? [{ path: SIGNATURE_TITLE, digest: sigDescriptor.digest }] : [])];
  for (const m of manifests) {
    for (const plugin of m.manifest.plugins) {
      await source.blob(plugin.descriptor.digest, plugin.descriptor.size, plugin.path);
      files.push({ path: plugin.path, digest: plugin.descriptor.digest });
    }
  }
  if (existing && !source.repaired && !(await store.setMatches(existing, files))) source.repaired = true;
  if (existing && source.repaired) await store.removeSet(key);
  const dir = (source.repaired ? null : existing) ?? (await store.materialize(key, { top: digest, platform: request.platform, documents: [digest, ...(top.kind === 'index' ? manifests.map((m) => m.digest) : [])], files }));
  const removed = await store.collect([key, ...(request.keep ?? [])]);
  if (removed.length > 0) request.log('info', `store: collected ${removed.length} old set(s) to stay under its size limit`);
  return { digest, pinned: pinnedRef, key, dir, fetched: source.fetched, fetchedBytes: source.fetchedBytes, signedBy };
}
