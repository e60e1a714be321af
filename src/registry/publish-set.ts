import { join } from 'node:path';
import { HashMismatchError } from '../errors.js';
import { LOCKFILE_LIMITS } from '../limits.js';
import { type LockDocument, parseLockDocument } from '../lock/lockfile.js';
import { pluginSetArtifact, type SetAnnotations } from '../oci/plugin-set.js';
import { EMPTY_CONFIG_BYTES } from '../oci/media-types.js';
import type { Reference } from '../oci/reference.js';
import { hashOpenFile } from '../util/hash-file.js';
import { openRegularFile, readSmallFile, UnsafeFileError, type OpenedFile } from '../util/safe-file.js';
import type { RegistryClient } from './registry-client.js';
import { transportError } from './http.js';

export interface PublishRequest {
  ref: Reference;
  /** The plugin directory: the lockfile's artifacts lie here (`<os>-<arch>/` for a platform's). */
  pluginDir: string;
  lockPath: string;
  signaturePath: string;
  annotations: SetAnnotations;
  log: (level: 'info' | 'warn', message: string) => void;
  signal: AbortSignal;
}

export interface PublishResult {
  digest: string;
  mediaType: string;
  /** `repo@sha256:…`: what hosts pull. */
  pinned: string;
  tag: string | null;
  signed: boolean;
  uploaded: number;
  uploadedBytes: number;
  /** Blobs and manifests the registry already had. */
  present: number;
  platforms: Array<{ platform: string; digest: string }>;
}

/**
 * Push a plugin directory as one OCI artifact: each blob only if the registry lacks it, each
 * plugin streamed from a handle whose bytes were first checked against the lockfile, then the
 * manifests (and the index), then the tag if one was given. The same set gives the same digest.
 */
export async function publishSet(client: RegistryClient, request: PublishRequest): Promise<PublishResult> {
  try {
    return await publish(client, request);
  } catch (err) {
    throw transportError(err, client.origin, request.signal);
  }
}

async function publish(client: RegistryClient, request: PublishRequest): Promise<PublishResult> {
  const lockBytes = await readSmallFile(request.lockPath, 'The lockfile', LOCKFILE_LIMITS.maxBytes);
  const document: LockDocument = parseLockDocument(lockBytes.toString('utf8'), request.lockPath);
  let signature: Buffer | null = null;
  try {
    signature = await readSmallFile(request.signaturePath, 'The lockfile signature', LOCKFILE_LIMITS.maxSignatureBytes);
  } catch (err) {
    if (!(err instanceof UnsafeFileError && err.code === 'FILE_MISSING')) throw err;
    request.log('warn', `no signature at ${request.signaturePath}: the set is published unsigned, and hosts that trust keys will refuse it (sign it with \`builder sign\`)`);
  }
  const artifact = pluginSetArtifact(lockBytes, document, signature, request.annotations);
  const opened: OpenedFile[] = [];
  const result: PublishResult = {
    digest: artifact.top.digest,
    mediaType: artifact.top.mediaType,
    pinned: `${request.ref.registry}/${request.ref.repository}@${artifact.top.digest}`,
    tag: request.ref.tag ?? null,
    signed: signature !== null,
    uploaded: 0,
    uploadedBytes: 0,
    present: 0,
    platforms: artifact.top.platform === null ? artifact.manifests.map((m) => ({ platform: m.platform!, digest: m.digest })) : [],
  };
  try {
    // Every plugin is checked against the lockfile before anything is pushed: a set is whole or absent.
    const files = new Map<string, OpenedFile>();
    for (const blob of artifact.blobs) {
      if (blob.source.kind !== 'plugin') continue;
      const path = join(request.pluginDir, blob.source.path);
      const file = await openRegularFile(path, `Plugin file ${blob.source.path}`, { exactSize: blob.descriptor.size });
      opened.push(file);
      const actual = await hashOpenFile(file.handle.fd, blob.descriptor.size, request.signal);
      if (`sha256:${actual}` !== blob.descriptor.digest) {
        throw new HashMismatchError(blob.descriptor.annotations?.['dev.plugin-builder.plugin'] ?? blob.source.path, path, blob.descriptor.digest.slice(7), actual);
      }
      files.set(blob.descriptor.digest, file);
    }
    for (const blob of artifact.blobs) {
      const { digest, size } = blob.descriptor;
      if (await client.hasBlob(digest, 'pull,push', request.signal)) {
        result.present++;
        continue;
      }
      const body =
        blob.source.kind === 'lockfile' ? lockBytes
        : blob.source.kind === 'signature' ? signature!
        : blob.source.kind === 'empty' ? EMPTY_CONFIG_BYTES
        : { stream: () => files.get(digest)!.handle.createReadStream({ start: 0, end: size - 1, autoClose: false }), length: size };
      await client.uploadBlob(digest, size === 0 && !Buffer.isBuffer(body) ? Buffer.alloc(0) : body, request.signal);
      result.uploaded++;
      result.uploadedBytes += size;
      request.log('info', `uploaded ${blob.source.kind === 'plugin' ? blob.source.path : blob.source.kind} (${size} bytes)`);
    }
    const documents = artifact.top.platform === null ? [...artifact.manifests] : [];
    for (const doc of documents) {
      if ((await client.documentDigest(doc.digest, request.signal)) === doc.digest) result.present++;
      else {
        await client.putDocument(doc.digest, doc.mediaType, doc.bytes, request.signal);
        result.uploaded++;
      }
    }
    const reference = request.ref.tag ?? artifact.top.digest;
    if ((await client.documentDigest(reference, request.signal)) === artifact.top.digest) result.present++;
    else {
      await client.putDocument(reference, artifact.top.mediaType, artifact.top.bytes, request.signal);
      result.uploaded++;
    }
    return result;
  } finally {
    for (const file of opened) await file.handle.close();
  }
}
