import { platformFile } from '../lock/platform.js';
import { isMultiPlatform, type LockDocument, type Lockfile, platformViews } from '../lock/lockfile.js';
import { TrustError } from './trust-error.js';

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const STATEMENT_TYPE = 'https://in-toto.io/Statement/v1';
export const SLSA_PROVENANCE_V1 = 'https://slsa.dev/provenance/v1';
export const BUILD_TYPE = 'urn:plugin-builder:build:v1';
/** The lockfile's own subject: named by its role, so a renamed deployment copy still matches. */
export const LOCKFILE_SUBJECT = 'builder.lock.json';
const MAX_SUBJECTS = 100_000;

export interface Subject {
  name: string;
  digest: { sha256: string };
}

export interface ParsedStatement {
  /** subject name → sha256 hex. */
  subjects: Map<string, string>;
  /** predicate.buildDefinition.internalParameters.serial: when it was signed (ms); 0 when absent. Runtimes refuse a lower one than they serve. */
  serial: number;
  predicateType: string;
  /** predicate.buildDefinition.buildType, when the predicate has one. */
  buildType: string | null;
}

/** How far ahead of a clock a signing serial may be (clocks differ; a day does not): signers and hosts refuse more. */
export const MAX_SERIAL_AHEAD_MS = 24 * 3600 * 1000;

/**
 * The in-toto Statement v1 for a build: every artifact and the lockfile as subjects, SLSA
 * Provenance v1 as predicate. Deterministic but for `serial` (the signing time, ms, given by the
 * signer): the same lockfile signed with the same key and serial gives the same bytes. The serial
 * is what lets a host refuse an older signed set than the one it serves (a rollback).
 */
export function buildStatement(document: LockDocument, lockfileSha256: string, toolVersion: string, serial?: number): object {
  const statement = isMultiPlatform(document) ? multiPlatformStatement(document, lockfileSha256, toolVersion) : singleStatement(document, lockfileSha256, toolVersion);
  if (serial === undefined) return statement;
  if (!Number.isSafeInteger(serial) || serial < 0) throw new RangeError(`serial must be a non-negative integer, got ${serial}`);
  const { predicate } = statement as { predicate: { buildDefinition: { internalParameters: Record<string, unknown> } } };
  predicate.buildDefinition.internalParameters = { ...predicate.buildDefinition.internalParameters, serial };
  return statement;
}

/** An artifact's subject name is its path relative to the plugin directory (`linux-arm64/libgreet.so` for a platform's). */
export const artifactSubject = platformFile;

const byName = ([a]: [string, unknown], [b]: [string, unknown]) => (a < b ? -1 : a > b ? 1 : 0);
const imageDigest = (id: string) => ({ sha256: id.replace(/^sha256:/, '') });

function singleStatement(lock: Lockfile, lockfileSha256: string, toolVersion: string): object {
  const plugins = [...Object.entries(lock.plugins)].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const subject: Subject[] = [
    ...plugins.map(([, p]) => ({ name: p.file, digest: { sha256: p.sha256 } })),
    { name: LOCKFILE_SUBJECT, digest: { sha256: lockfileSha256 } },
  ];
  return provenanceStatement(subject, toolVersion, {
    externalParameters: {
      hostImage: lock.host.image,
      plugins: plugins.map(([name, p]) => ({ name, kind: p.kind, file: p.file })),
    },
    internalParameters: {
      hostFingerprintHash: lock.host.fingerprintHash,
      builderFingerprintHash: lock.builder.fingerprintHash,
      inputsHashes: Object.fromEntries(plugins.map(([name, p]) => [name, p.inputsHash])),
    },
    resolvedDependencies: [
      { name: 'host-image', uri: `docker-image:${lock.host.image}`, digest: imageDigest(lock.host.imageId) },
      { name: 'builder-image', uri: `docker-image:${lock.builder.image}`, digest: imageDigest(lock.builder.imageId) },
    ],
  });
}

/** The in-toto Statement around an SLSA provenance predicate: the same frame for one platform or several. */
function provenanceStatement(subject: Subject[], toolVersion: string, definition: { externalParameters: object; internalParameters: object; resolvedDependencies: object[] }): object {
  return {
    _type: STATEMENT_TYPE,
    subject,
    predicateType: SLSA_PROVENANCE_V1,
    predicate: {
      buildDefinition: { buildType: BUILD_TYPE, ...definition },
      runDetails: {
        builder: { id: 'urn:plugin-builder:builder', version: { 'plugin-builder': toolVersion } },
      },
    },
  };
}

/** Every platform's artifacts as subjects (named by their path under the plugin directory), each platform's environment in the predicate. */
function multiPlatformStatement(document: LockDocument, lockfileSha256: string, toolVersion: string): object {
  const views = platformViews(document);
  const subject: Subject[] = [
    ...views.flatMap((v) => Object.entries(v.lock.plugins).sort(byName).map(([, p]) => ({ name: artifactSubject(v.dir, p.file), digest: { sha256: p.sha256 } }))),
    { name: LOCKFILE_SUBJECT, digest: { sha256: lockfileSha256 } },
  ];
  return provenanceStatement(subject, toolVersion, {
    externalParameters: {
      platforms: views.map((v) => ({
        platform: v.platform,
        hostImage: v.lock.host.image,
        plugins: Object.entries(v.lock.plugins).sort(byName).map(([name, p]) => ({ name, kind: p.kind, file: artifactSubject(v.dir, p.file) })),
      })),
    },
    internalParameters: {
      platforms: views.map((v) => ({
        platform: v.platform,
        hostFingerprintHash: v.lock.host.fingerprintHash,
        builderFingerprintHash: v.lock.builder.fingerprintHash,
        inputsHashes: Object.fromEntries(Object.entries(v.lock.plugins).sort(byName).map(([name, p]) => [name, p.inputsHash])),
      })),
    },
    resolvedDependencies: views.flatMap((v) => [
      { name: `host-image ${v.platform}`, uri: `docker-image:${v.lock.host.image}`, digest: imageDigest(v.lock.host.imageId) },
      { name: `builder-image ${v.platform}`, uri: `docker-image:${v.lock.builder.image}`, digest: imageDigest(v.lock.builder.imageId) },
    ]),
  });
}

const bad = (reason: string): never => {
  throw new TrustError('BAD_SIGNATURE', `The signed statement is not usable: ${reason}.`, 'Sign the lockfile again with `builder sign`.');
};

/** Parse a verified payload as an in-toto Statement v1; only the parts the host decides on. */
export function parseStatement(payload: Buffer): ParsedStatement {
  let raw: unknown;
  try {
    raw = JSON.parse(payload.toString('utf8'));
  } catch (err) {
    return bad(`not JSON (${(err as Error).message})`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return bad('not a JSON object');
  const record = raw as Record<string, unknown>;
  const field = (name: string) => (Object.hasOwn(record, name) ? record[name] : undefined);
  if (field('_type') !== STATEMENT_TYPE) return bad(`"_type" is not ${STATEMENT_TYPE}`);
  const predicateType = field('predicateType');
  if (typeof predicateType !== 'string') return bad('"predicateType" must be a string');
  const list = field('subject');
  if (!Array.isArray(list) || list.length === 0) return bad('"subject" must be a non-empty array');
  if (list.length > MAX_SUBJECTS) return bad(`more than ${MAX_SUBJECTS} subjects`);
  const subjects = new Map<string, string>();
  for (const [i, item] of list.entries()) {
    const entry = (item ?? {}) as Record<string, unknown>;
    const name = Object.hasOwn(entry, 'name') ? entry.name : undefined;
    const digest = (Object.hasOwn(entry, 'digest') ? entry.digest : undefined) as Record<string, unknown> | undefined;
    const sha256 = digest && typeof digest === 'object' && Object.hasOwn(digest, 'sha256') ? digest.sha256 : undefined;
    if (typeof name !== 'string' || name === '') return bad(`subject[${i}].name must be a non-empty string`);
    if (typeof sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(sha256)) return bad(`subject[${i}] (${name}) has no sha256 digest`);
    // Two digests for one name would let a verifier pick the one it likes.
    if (subjects.has(name)) return bad(`subject "${name}" appears twice`);
    subjects.set(name, sha256);
  }
  const predicate = field('predicate') as Record<string, unknown> | undefined;
  const definition = predicate && typeof predicate === 'object' && Object.hasOwn(predicate, 'buildDefinition') ? (predicate.buildDefinition as Record<string, unknown> | null) : null;
  const buildType = definition && typeof definition === 'object' && Object.hasOwn(definition, 'buildType') && typeof definition.buildType === 'string' ? definition.buildType : null;
  const params = definition && typeof definition === 'object' && Object.hasOwn(definition, 'internalParameters') ? (definition.internalParameters as Record<string, unknown> | null) : null;
  let serial = 0;
  if (params && typeof params === 'object' && !Array.isArray(params) && Object.hasOwn(params, 'serial')) {
    const value = params.serial;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) return bad('"serial" must be a non-negative integer');
    serial = value;
  }
  return { subjects, predicateType, buildType, serial };
}
