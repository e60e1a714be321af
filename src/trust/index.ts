/**
 * Signing and provenance, pure: bytes in, verdicts out. No file or network I/O here; callers
 * read keys, lockfiles and envelopes (with their own caps) and pass the bytes.
 */
export { decodeBase64Strict } from './base64.js';
export { type DsseEnvelope, MAX_SIGNATURES, pae, parseEnvelope, signEnvelope, verifyEnvelope } from './dsse.js';
export { generateSigningKeyPair, keyIdOf, parseSigningKey, parseTrustedKey, type GeneratedKeyPair, type SigningKey, type TrustedKey } from './keys.js';
export { checkArtifactsSigned, type LockfileTrust, signaturePathFor, signLockfile, verifyLockfileSignature } from './lockfile-signature.js';
export { buildStatement, IN_TOTO_PAYLOAD_TYPE, LOCKFILE_SUBJECT, parseStatement, SLSA_PROVENANCE_V1 } from './statement.js';
export { TrustError } from './trust-error.js';
