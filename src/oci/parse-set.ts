import { LOCKFILE_LIMITS } from '../limits.js';
import { type LockDocument, platformViews } from '../lock/lockfile.js';
import { platformFile, PLATFORM_PATTERN } from '../lock/platform.js';
import { type Descriptor } from './descriptor.js';
import { DIGEST } from './reference.js';
import { LOCKFILE_MEDIA, LOCKFILE_TITLE, OCI_INDEX, OCI_MANIFEST, PLUGIN_MEDIA, PLUGIN_SET_ARTIFACT, SIGNATURE_MEDIA, SIGNATURE_TITLE, TITLE } from './media-types.js';

/** Why a document from a registry is not a plugin set this tool will fetch from. */
export class SetDocumentError extends Error {}

/** Bounds on what a registry's documents can make a pull fetch or hold. */
export const SET_LIMITS = {
  /** The OCI distribution spec has registries accept manifests of at least 4 MiB; we take no more. */
  maxDocumentBytes: 4 * 1024 * 1024,
  /** Lockfile, signature, and one blob per plugin of the lockfile's limit. */
  maxLayers: LOCKFILE_LIMITS.maxPlugins + 2,
  maxPlatforms: 16,
  maxLockfileBytes: LOCKFILE_LIMITS.maxBytes,
  maxSignatureBytes: LOCKFILE_LIMITS.maxSignatureBytes,
  /** The same bound as go/pluginhost's MaxPluginBytes. */
  maxPluginBytes: 1024 * 1024 * 1024,
} as const;

export interface PlatformEntry {
  platform: string;
  digest: string;
  size: number;
}

export interface SetManifest {
  kind: 'manifest';
  lockfile: Descriptor;
  signature: Descriptor | null;
  /** Plugin blobs by their path in the set (`libgreet.so`, `linux-arm64/libgreet.so`). */
  plugins: Array<{ path: string; descriptor: Descriptor }>;
  annotations: Record<string, string>;
}

export interface SetIndex {
  kind: 'index';
  platforms: PlatformEntry[];
  annotations: Record<string, string>;
}

const PLUGIN_PATH = /^(?:linux-[a-z0-9]+\/)?[A-Za-z0-9_.-]+\.so$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function annotationsOf(value: unknown, what: string): Record<string, string> {
  if (value === undefined) return {};
  if (!isObject(value) || Object.values(value).some((v) => typeof v !== 'string')) throw new SetDocumentError(`${what}: annotations must map names to strings`);
  return Object.fromEntries(Object.entries(value)) as Record<string, string>;
}

function descriptorOf(value: unknown, what: string, maxSize: number): Descriptor {
  if (!isObject(value)) throw new SetDocumentError(`${what} is not a descriptor`);
  const { mediaType, digest, size } = value;
  if (typeof mediaType !== 'string' || mediaType.length > 255) throw new SetDocumentError(`${what} has no mediaType`);
  if (typeof digest !== 'string' || !DIGEST.test(digest)) throw new SetDocumentError(`${what} has a digest that is not sha256:<64 hex> (${String(digest).slice(0, 80)})`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw new SetDocumentError(`${what} has no valid size`);
  if (size > maxSize) throw new SetDocumentError(`${what} declares ${size} bytes, more than the limit of ${maxSize}`);
  return { mediaType, digest, size, annotations: annotationsOf(value.annotations, what) };
}

/**
 * A registry's document (bytes already checked against their digest) as a plugin set: an index
 * over per-platform manifests, or one manifest of lockfile, signature and plugins. Anything
 * else — another artifact type, a layer the set cannot have, a count over the limits — is
 * refused here, before a blob is fetched.
 */
export function parseSetDocument(bytes: Buffer, what: string): SetManifest | SetIndex {
  if (bytes.length > SET_LIMITS.maxDocumentBytes) throw new SetDocumentError(`${what} is ${bytes.length} bytes, more than ${SET_LIMITS.maxDocumentBytes}`);
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new SetDocumentError(`${what} is not JSON (${(err as Error).message.slice(0, 120)})`);
  }
  if (!isObject(doc) || doc.schemaVersion !== 2) throw new SetDocumentError(`${what} is not an OCI manifest or index (schemaVersion 2)`);
  // An index only routes to the platforms' manifests, each fetched by digest and checked as a
  // set itself; tools older than OCI 1.1 (skopeo 1.9) drop an index's artifactType when they copy it.
  const routingIndex = doc.mediaType === OCI_INDEX && doc.artifactType === undefined;
  if (doc.artifactType !== PLUGIN_SET_ARTIFACT && !routingIndex) {
    throw new SetDocumentError(`${what} is not a plugin set: its artifactType is ${JSON.stringify(String(doc.artifactType ?? 'absent').slice(0, 100))}, not ${PLUGIN_SET_ARTIFACT}`);
  }
  const annotations = annotationsOf(doc.annotations, what);
  if (doc.mediaType === OCI_INDEX) {
    if (!Array.isArray(doc.manifests) || doc.manifests.length === 0) throw new SetDocumentError(`${what}: an index with no manifests`);
    if (doc.manifests.length > SET_LIMITS.maxPlatforms) throw new SetDocumentError(`${what} lists ${doc.manifests.length} manifests, more than ${SET_LIMITS.maxPlatforms}`);
    const platforms = doc.manifests.map((m: unknown, i: number): PlatformEntry => {
      const d = descriptorOf(m, `${what} manifests[${i}]`, SET_LIMITS.maxDocumentBytes);
      const p = (m as Record<string, unknown>).platform;
      if (d.mediaType !== OCI_MANIFEST) throw new SetDocumentError(`${what} manifests[${i}] is ${d.mediaType}, not an OCI image manifest`);
      if (!isObject(p) || typeof p.os !== 'string' || typeof p.architecture !== 'string' || !PLATFORM_PATTERN.test(`${p.os}/${p.architecture}`)) {
        throw new SetDocumentError(`${what} manifests[${i}] has no platform this tool knows`);
      }
      return { platform: `${p.os}/${p.architecture}`, digest: d.digest, size: d.size };
    });
    if (new Set(platforms.map((p) => p.platform)).size !== platforms.length) throw new SetDocumentError(`${what} lists a platform twice`);
    return { kind: 'index', platforms, annotations };
  }
  if (doc.mediaType !== OCI_MANIFEST) throw new SetDocumentError(`${what} has mediaType ${JSON.stringify(String(doc.mediaType).slice(0, 100))}, not an OCI manifest or index`);
  if (!Array.isArray(doc.layers)) throw new SetDocumentError(`${what} has no layers`);
  if (doc.layers.length > SET_LIMITS.maxLayers) throw new SetDocumentError(`${what} lists ${doc.layers.length} layers, more than ${SET_LIMITS.maxLayers}`);
  let lockfile: Descriptor | null = null;
  let signature: Descriptor | null = null;
  const plugins: SetManifest['plugins'] = [];
  const titles = new Set<string>();
  doc.layers.forEach((layer: unknown, i: number) => {
    const d = descriptorOf(layer, `${what} layers[${i}]`, SET_LIMITS.maxPluginBytes);
    const title = d.annotations?.[TITLE];
    if (title === undefined || titles.has(title)) throw new SetDocumentError(`${what} layers[${i}] has ${title === undefined ? 'no' : 'a repeated'} title`);
    titles.add(title);
    if (d.mediaType === LOCKFILE_MEDIA && title === LOCKFILE_TITLE && !lockfile) {
      if (d.size > SET_LIMITS.maxLockfileBytes) throw new SetDocumentError(`${what}: the lockfile is ${d.size} bytes, more than ${SET_LIMITS.maxLockfileBytes}`);
      lockfile = d;
    } else if (d.mediaType === SIGNATURE_MEDIA && title === SIGNATURE_TITLE && !signature) {
      if (d.size > SET_LIMITS.maxSignatureBytes) throw new SetDocumentError(`${what}: the signature is ${d.size} bytes, more than ${SET_LIMITS.maxSignatureBytes}`);
      signature = d;
    } else if (d.mediaType === PLUGIN_MEDIA && PLUGIN_PATH.test(title)) {
      plugins.push({ path: title, descriptor: d });
    } else {
      throw new SetDocumentError(`${what} layers[${i}] (${d.mediaType.slice(0, 100)}, "${title.slice(0, 100)}") is not a lockfile, signature or plugin of a set`);
    }
  });
  if (!lockfile) throw new SetDocumentError(`${what} has no lockfile layer`);
  return { kind: 'manifest', lockfile, signature, plugins, annotations };
}

/**
 * The manifest's plugin layers against the lockfile it carries: for the platforms it covers,
 * every locked artifact is a layer with the locked sha256 and size, and there is no other. So a
 * blob is fetched only when the (signed) lockfile pins it.
 */
export function checkLayersAgainstLockfile(manifest: SetManifest, document: LockDocument, platform: string | null, what: string): void {
  const views = platformViews(document).filter((v) => platform === null || v.platform === platform || !Object.hasOwn(document, 'platforms'));
  if (views.length === 0) throw new SetDocumentError(`${what}: its lockfile has no entries for ${platform}`);
  const expected = new Map<string, { sha256: string; size: number }>();
  for (const view of views) for (const entry of Object.values(view.lock.plugins)) expected.set(platformFile(view.dir, entry.file), entry);
  for (const { path, descriptor } of manifest.plugins) {
    const entry = expected.get(path);
    if (!entry) throw new SetDocumentError(`${what} carries ${path}, which its lockfile does not list`);
    if (descriptor.digest !== `sha256:${entry.sha256}` || descriptor.size !== entry.size) {
      throw new SetDocumentError(`${what}: layer ${path} is ${descriptor.digest} (${descriptor.size} bytes); the lockfile locks sha256:${entry.sha256} (${entry.size} bytes)`);
    }
    expected.delete(path);
  }
  if (expected.size > 0) throw new SetDocumentError(`${what} lacks ${[...expected.keys()].slice(0, 5).join(', ')}, which its lockfile lists`);
}
