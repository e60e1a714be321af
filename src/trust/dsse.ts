import { sign, verify } from 'node:crypto';
import { decodeBase64Strict } from './base64.js';
import type { SigningKey, TrustedKey } from './keys.js';
import { TrustError } from './trust-error.js';

/** A DSSE envelope (secure-systems-lab/dsse, envelope.md) as it is written to disk. */
export interface DsseEnvelope {
  payload: string;
  payloadType: string;
  signatures: { keyid: string; sig: string }[];
}

export interface VerifiedEnvelope {
  payloadType: string;
  payload: Buffer;
  /** Ids of the trusted keys whose signature verified. */
  keyIds: string[];
}

/** Signatures tried at most: each costs an Ed25519 verify per trusted key. */
export const MAX_SIGNATURES = 16;

/** PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body (protocol.md). */
export function pae(payloadType: string, body: Uint8Array): Buffer {
  const type = Buffer.from(payloadType, 'utf8');
  return Buffer.concat([Buffer.from(`DSSEv1 ${type.length} `), type, Buffer.from(` ${body.length} `), body]);
}

export function signEnvelope(payloadType: string, body: Uint8Array, keys: readonly SigningKey[]): DsseEnvelope {
  const message = pae(payloadType, body);
  return {
    payload: Buffer.from(body).toString('base64'),
    payloadType,
    // Ed25519 signs the message itself (no pre-hash): algorithm null.
    signatures: keys.map((k) => ({ keyid: k.keyId, sig: sign(null, message, k.key).toString('base64') })),
  };
}

const bad = (reason: string): never => {
  throw new TrustError('BAD_SIGNATURE', `The signature envelope is malformed: ${reason}.`, 'Sign the lockfile again with `builder sign` (or `builder build --sign-key`).');
};

/** Parse an envelope's JSON text; shape only, nothing is trusted yet. */
export function parseEnvelope(text: string): { payloadType: string; payload: Buffer; signatures: { keyid: string; sig: Buffer }[] } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return bad(`not JSON (${(err as Error).message})`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return bad('not a JSON object');
  const record = raw as Record<string, unknown>;
  const payloadType = Object.hasOwn(record, 'payloadType') ? record.payloadType : undefined;
  const payloadText = Object.hasOwn(record, 'payload') ? record.payload : undefined;
  const signatures = Object.hasOwn(record, 'signatures') ? record.signatures : undefined;
  if (typeof payloadType !== 'string') return bad('"payloadType" must be a string');
  if (typeof payloadText !== 'string') return bad('"payload" must be a string');
  const payload = decodeBase64Strict(payloadText) ?? bad('"payload" is not base64');
  if (!Array.isArray(signatures) || signatures.length === 0) return bad('"signatures" must be a non-empty array');
  if (signatures.length > MAX_SIGNATURES) return bad(`more than ${MAX_SIGNATURES} signatures`);
  return {
    payloadType,
    payload,
    signatures: signatures.map((s: unknown, i) => {
      if (s === null || typeof s !== 'object' || Array.isArray(s)) return bad(`signatures[${i}] is not an object`);
      const entry = s as Record<string, unknown>;
      const keyid = Object.hasOwn(entry, 'keyid') ? entry.keyid : '';
      const sig = Object.hasOwn(entry, 'sig') ? entry.sig : undefined;
      if (typeof keyid !== 'string') return bad(`signatures[${i}].keyid must be a string`);
      if (typeof sig !== 'string') return bad(`signatures[${i}].sig must be a string`);
      return { keyid, sig: decodeBase64Strict(sig) ?? bad(`signatures[${i}].sig is not base64`) };
    }),
  };
}

/**
 * Verify an envelope against trusted keys (DSSE protocol.md, (1, n)): valid when at least one
 * signature verifies under one trusted key. keyid only narrows which keys are tried; it is
 * unauthenticated, so a signature whose keyid names no trusted key is still tried against all.
 */
export function verifyEnvelope(text: string, expectedPayloadType: string, trusted: readonly TrustedKey[]): VerifiedEnvelope {
  const envelope = parseEnvelope(text);
  const message = pae(envelope.payloadType, envelope.payload);
  const accepted = new Set<string>();
  for (const signature of envelope.signatures) {
    const named = trusted.filter((k) => k.keyId === signature.keyid);
    for (const candidate of named.length > 0 ? named : trusted) {
      if (signature.sig.length === 64 && verify(null, message, candidate.key, signature.sig)) accepted.add(candidate.keyId);
    }
  }
  if (accepted.size === 0) {
    const named = envelope.signatures.map((s) => s.keyid || '(no keyid)').join(', ');
    throw new TrustError(
      'BAD_SIGNATURE',
      `No signature verifies under a trusted key (signed by: ${named}; trusted: ${trusted.map((k) => k.keyId).join(', ') || 'none'}).`,
      'Sign the lockfile with a key whose public half this host trusts, or add that public key to the host\'s trust keys.',
    );
  }
  // Checked after the signatures, as the protocol says: the type is authenticated by PAE.
  if (envelope.payloadType !== expectedPayloadType) {
    throw new TrustError('BAD_SIGNATURE', `The envelope's payloadType is "${envelope.payloadType}", expected "${expectedPayloadType}".`, 'Sign the lockfile with `builder sign`.');
  }
  return { payloadType: envelope.payloadType, payload: envelope.payload, keyIds: [...accepted].sort() };
}
