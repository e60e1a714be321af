import { describe, expect, it } from 'vitest';
import { parseLockfile, serializeLockfile } from '../../../src/lock/lockfile.js';
import { signEnvelope, verifyEnvelope } from '../../../src/trust/dsse.js';
import { generateSigningKeyPair, parseSigningKey, parseTrustedKey } from '../../../src/trust/keys.js';
import { checkArtifactsSigned, signLockfile, verifyLockfileSignature } from '../../../src/trust/lockfile-signature.js';
import { IN_TOTO_PAYLOAD_TYPE, LOCKFILE_SUBJECT, SLSA_PROVENANCE_V1 } from '../../../src/trust/statement.js';
import { lockFor, sha } from '../../helpers/fake-plugins.js';

const pair = generateSigningKeyPair();
const key = parseSigningKey(pair.privatePem, 'k');
const trusted = parseTrustedKey(pair.publicPem, 'k.pub');

describe('signed lockfiles', () => {
  const lock = lockFor({ 'libgreet.so': 'G', 'libshout.so': 'S' });
  const text = serializeLockfile(lock);
  const envelope = signLockfile(lock, text, key, '1.2.3');

  it('an in-toto Statement v1 with every artifact and the lockfile as subjects and SLSA provenance v1', () => {
    const statement = JSON.parse(verifyEnvelope(envelope, IN_TOTO_PAYLOAD_TYPE, [trusted]).payload.toString()) as Record<string, any>;
    expect(statement._type).toBe('https://in-toto.io/Statement/v1');
    expect(statement.subject).toEqual([
      { name: 'libgreet.so', digest: { sha256: sha('G') } },
      { name: 'libshout.so', digest: { sha256: sha('S') } },
      { name: LOCKFILE_SUBJECT, digest: { sha256: sha(text) } },
    ]);
    expect(statement.predicateType).toBe(SLSA_PROVENANCE_V1);
    expect(statement.predicate.buildDefinition.internalParameters).toMatchObject({ hostFingerprintHash: lock.host.fingerprintHash, inputsHashes: { greet: lock.plugins.greet!.inputsHash } });
    expect(statement.predicate.buildDefinition.resolvedDependencies.map((d: { name: string }) => d.name)).toEqual(['host-image', 'builder-image']);
    expect(statement.predicate.runDetails.builder.version).toEqual({ 'plugin-builder': '1.2.3' });
    // Deterministic: the same lockfile signs to the same bytes.
    expect(signLockfile(lock, text, key, '1.2.3')).toBe(envelope);
  });

  it('verifies only the exact lockfile bytes it was made for', () => {
    const verdict = verifyLockfileSignature(Buffer.from(text), envelope, [trusted]);
    expect(verdict.keyIds).toEqual([key.keyId]);
    checkArtifactsSigned(parseLockfile(text), verdict.statement);
    expect(() => verifyLockfileSignature(Buffer.from(text + ' '), envelope, [trusted])).toThrow(/another lockfile/);
  });

  it('another attestation by the same key over the same files (not build provenance) is no permission to load', () => {
    const statement = { _type: 'https://in-toto.io/Statement/v1', subject: [{ name: LOCKFILE_SUBJECT, digest: { sha256: sha(text) } }], predicateType: 'https://example.org/test-result/v0.1', predicate: {} };
    const other = JSON.stringify(signEnvelope(IN_TOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(statement)), [key]));
    expect(() => verifyLockfileSignature(Buffer.from(text), other, [trusted])).toThrow(/not plugin-builder provenance/);
    const wrongBuild = { ...statement, predicateType: SLSA_PROVENANCE_V1, predicate: { buildDefinition: { buildType: 'https://example.org/other' } } };
    const envelope2 = JSON.stringify(signEnvelope(IN_TOTO_PAYLOAD_TYPE, Buffer.from(JSON.stringify(wrongBuild)), [key]));
    expect(() => verifyLockfileSignature(Buffer.from(text), envelope2, [trusted])).toThrow(/not plugin-builder provenance/);
  });

  it('an artifact the statement does not cover, or covers with another digest, is refused', () => {
    const verdict = verifyLockfileSignature(Buffer.from(text), envelope, [trusted]);
    const swapped = lockFor({ 'libgreet.so': 'G', 'libshout.so': 'EVIL' });
    expect(() => checkArtifactsSigned(swapped, verdict.statement)).toThrow(/signed with sha256/);
    const extra = lockFor({ 'libgreet.so': 'G', 'libshout.so': 'S', 'libnew.so': 'N' });
    expect(() => checkArtifactsSigned(extra, verdict.statement)).toThrow(/not a subject/);
  });
});

describe('the signing serial (rollback protection)', () => {
  const payload = (params: unknown) =>
    Buffer.from(JSON.stringify({ _type: 'https://in-toto.io/Statement/v1', predicateType: 'https://slsa.dev/provenance/v1', subject: [{ name: 'builder.lock.json', digest: { sha256: 'a'.repeat(64) } }], predicate: { buildDefinition: { buildType: 'urn:plugin-builder:build:v1', internalParameters: params } } }));

  it('is read from internalParameters.serial; absent is 0; anything but a non-negative safe integer makes the statement unusable (as in Go)', async () => {
    const { parseStatement } = await import('../../../src/trust/statement.js');
    expect(parseStatement(payload({ serial: 1733366400000 })).serial).toBe(1733366400000);
    expect(parseStatement(payload({})).serial).toBe(0);
    expect(parseStatement(payload(null)).serial).toBe(0);
    expect(parseStatement(payload([1])).serial).toBe(0);
    for (const bad of [-1, 1.5, '7', 2 ** 53, null]) expect(() => parseStatement(payload({ serial: bad }))).toThrow(/"serial" must be a non-negative integer/);
  });
});
