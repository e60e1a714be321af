import { type LockDocument, platformViews } from '../lock/lockfile.js';
import { platformFile } from '../lock/platform.js';
import { canonicalJson } from '../util/canonical-json.js';
import { type Descriptor, digestOf } from './descriptor.js';
import {
  CREATED, EMPTY_CONFIG, FINGERPRINT_HASH, LOCKFILE_MEDIA, LOCKFILE_SHA256, LOCKFILE_TITLE, OCI_INDEX, OCI_MANIFEST,
  PLUGIN_MEDIA, PLUGIN_NAME_ANNOTATION, PLUGIN_SET_ARTIFACT, REVISION, SIGNATURE_MEDIA, SIGNATURE_TITLE, SOURCE, TITLE,
} from './media-types.js';

/** A JSON document of the set (a manifest or the index), as the exact bytes that get pushed. */
export interface SetDocument {
  mediaType: string;
  bytes: Buffer;
  digest: string;
  platform: string | null;
}

/** A blob a manifest names, and where its bytes come from. */
export interface SetBlob {
  descriptor: Descriptor;
  source: { kind: 'lockfile' } | { kind: 'signature' } | { kind: 'empty' } | { kind: 'plugin'; path: string };
}

export interface PluginSetArtifact {
  /** What a reference should point at: the one manifest, or the index over the platforms'. */
  top: SetDocument;
  /** Per-platform manifests (one, the top itself, for a single-platform lockfile). */
  manifests: SetDocument[];
  /** Every distinct blob, lockfile and signature first. */
  blobs: SetBlob[];
}

export interface SetAnnotations {
  /** From SOURCE_DATE_EPOCH only: the same set published twice must have the same digest. */
  created?: string;
  source?: string;
  revision?: string;
}

/** SOURCE_DATE_EPOCH as an RFC 3339 time; undefined when unset; an error for anything but whole seconds. */
export function createdFromEpoch(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (!/^\d{1,12}$/.test(value)) throw new Error(`SOURCE_DATE_EPOCH must be whole seconds since 1970, got "${value.slice(0, 40)}"`);
  return new Date(Number(value) * 1000).toISOString().replace('.000Z', 'Z');
}

const json = (value: unknown) => Buffer.from(canonicalJson(value));

/**
 * The OCI documents of a plugin set, from the exact lockfile (and signature) bytes: pure, so the
 * same lockfile gives the same digests on every machine. Plugin blobs are named by the
 * lockfile's own sha256 and size (the uploader checks the files against them), so every blob of
 * the artifact is pinned by the lockfile the signature covers.
 */
export function pluginSetArtifact(lockBytes: Buffer, document: LockDocument, signature: Buffer | null, annotations: SetAnnotations): PluginSetArtifact {
  const lockDescriptor: Descriptor = { mediaType: LOCKFILE_MEDIA, digest: digestOf(lockBytes), size: lockBytes.length, annotations: { [TITLE]: LOCKFILE_TITLE } };
  const sigDescriptor: Descriptor | null = signature ? { mediaType: SIGNATURE_MEDIA, digest: digestOf(signature), size: signature.length, annotations: { [TITLE]: SIGNATURE_TITLE } } : null;
  const blobs = new Map<string, SetBlob>();
  blobs.set(lockDescriptor.digest, { descriptor: lockDescriptor, source: { kind: 'lockfile' } });
  if (sigDescriptor) blobs.set(sigDescriptor.digest, { descriptor: sigDescriptor, source: { kind: 'signature' } });
  blobs.set(EMPTY_CONFIG.digest, { descriptor: { ...EMPTY_CONFIG }, source: { kind: 'empty' } });
  const common: Record<string, string> = {
    [LOCKFILE_SHA256]: lockDescriptor.digest.slice(7),
    ...(annotations.created ? { [CREATED]: annotations.created } : {}),
    ...(annotations.source ? { [SOURCE]: annotations.source } : {}),
    ...(annotations.revision ? { [REVISION]: annotations.revision } : {}),
  };
  const views = platformViews(document);
  const manifests: SetDocument[] = views.map((view) => {
    const layers: Descriptor[] = [lockDescriptor, ...(sigDescriptor ? [sigDescriptor] : [])];
    for (const [name, entry] of Object.entries(view.lock.plugins).sort(([a], [b]) => (a < b ? -1 : 1))) {
      const path = platformFile(view.dir, entry.file);
      const descriptor: Descriptor = { mediaType: PLUGIN_MEDIA, digest: `sha256:${entry.sha256}`, size: entry.size, annotations: { [TITLE]: path, [PLUGIN_NAME_ANNOTATION]: name } };
      layers.push(descriptor);
      if (!blobs.has(descriptor.digest)) blobs.set(descriptor.digest, { descriptor, source: { kind: 'plugin', path } });
    }
    const bytes = json({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: PLUGIN_SET_ARTIFACT,
      config: EMPTY_CONFIG,
      layers,
      annotations: { ...common, [FINGERPRINT_HASH]: view.lock.host.fingerprintHash },
    });
    return { mediaType: OCI_MANIFEST, bytes, digest: digestOf(bytes), platform: view.platform };
  });
  if (views.length === 1 && !Object.hasOwn(document, 'platforms')) {
    return { top: manifests[0]!, manifests, blobs: [...blobs.values()] };
  }
  const index = json({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    artifactType: PLUGIN_SET_ARTIFACT,
    manifests: manifests.map((m) => {
      const [os, architecture] = m.platform!.split('/') as [string, string];
      return { mediaType: OCI_MANIFEST, artifactType: PLUGIN_SET_ARTIFACT, digest: m.digest, size: m.bytes.length, platform: { architecture, os } };
    }),
    annotations: common,
  });
  return { top: { mediaType: OCI_INDEX, bytes: index, digest: digestOf(index), platform: null }, manifests, blobs: [...blobs.values()] };
}
