/** The media types of a published plugin set (docs/registry.md): our own, except the OCI and DSSE ones. */
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const PLUGIN_SET_ARTIFACT = 'application/vnd.plugin-builder.plugin-set.v1';
export const LOCKFILE_MEDIA = 'application/vnd.plugin-builder.lockfile.v1+json';
/** The envelope `builder sign` writes is DSSE; this is the type other DSSE tools give it. */
export const SIGNATURE_MEDIA = 'application/vnd.dsse.envelope.v1+json';
export const PLUGIN_MEDIA = 'application/vnd.plugin-builder.plugin.v1+elf';
/** The OCI 1.1 empty config for artifacts: `{}`. */
export const EMPTY_CONFIG = {
  mediaType: 'application/vnd.oci.empty.v1+json',
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
  size: 2,
} as const;
export const EMPTY_CONFIG_BYTES = Buffer.from('{}');

export const TITLE = 'org.opencontainers.image.title';
export const CREATED = 'org.opencontainers.image.created';
export const SOURCE = 'org.opencontainers.image.source';
export const REVISION = 'org.opencontainers.image.revision';
export const LOCKFILE_SHA256 = 'dev.plugin-builder.lockfile.sha256';
export const FINGERPRINT_HASH = 'dev.plugin-builder.fingerprint';
export const PLUGIN_NAME_ANNOTATION = 'dev.plugin-builder.plugin';

/** The names the lockfile and its signature have inside a set, as in a deployed plugin directory. */
export const LOCKFILE_TITLE = 'builder.lock.json';
export const SIGNATURE_TITLE = 'builder.lock.json.sig';
