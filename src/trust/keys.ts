import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { TrustError } from './trust-error.js';
import { sha256Hex } from '../util/sha256.js';

/** An Ed25519 public key that a host trusts, with the id signatures name it by. */
export interface TrustedKey {
  /** sha256 (hex) of the key's SPKI DER encoding. */
  keyId: string;
  key: KeyObject;
  /** Where it came from (a file path), for messages. */
  source: string;
}

export interface SigningKey {
  keyId: string;
  key: KeyObject;
}

export interface GeneratedKeyPair {
  keyId: string;
  /** PKCS#8 PEM: keep secret. */
  privatePem: string;
  /** SPKI PEM: give to hosts. */
  publicPem: string;
}

export function keyIdOf(publicKey: KeyObject): string {
  return sha256Hex(publicKey.export({ type: 'spki', format: 'der' }));
}

export function generateSigningKeyPair(): GeneratedKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    keyId: keyIdOf(publicKey),
    privatePem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** A PKCS#8 PEM private key; only Ed25519 is accepted, so a key's meaning never depends on its file. */
export function parseSigningKey(pem: string | Buffer, source: string): SigningKey {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new TrustError('BAD_KEY', `${source} is not a PEM private key: ${(err as Error).message}`, 'Use a key written by `builder keygen` (PKCS#8 PEM, Ed25519).');
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new TrustError('BAD_KEY', `${source} is a ${key.asymmetricKeyType ?? 'unknown'} key; only Ed25519 keys sign lockfiles.`, 'Make one with `builder keygen`.');
  }
  return { keyId: keyIdOf(createPublicKey(key)), key };
}

/** An SPKI PEM public key; only Ed25519. A private key given by mistake is refused, not derived from. */
export function parseTrustedKey(pem: string | Buffer, source: string): TrustedKey {
  const text = pem.toString();
  if (/PRIVATE KEY/.test(text)) {
    throw new TrustError('BAD_KEY', `${source} holds a private key; a host needs only the public one.`, 'Deploy the .pub file written by `builder keygen`, never the private key.');
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: text, format: 'pem' });
  } catch (err) {
    throw new TrustError('BAD_KEY', `${source} is not a PEM public key: ${(err as Error).message}`, 'Use the .pub file written by `builder keygen` (SPKI PEM, Ed25519).');
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new TrustError('BAD_KEY', `${source} is a ${key.asymmetricKeyType ?? 'unknown'} key; only Ed25519 keys are trusted.`, 'Use the .pub file written by `builder keygen`.');
  }
  return { keyId: keyIdOf(key), key, source };
}
