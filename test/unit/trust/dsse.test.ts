import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBase64Strict } from '../../../src/trust/base64.js';
import { pae, parseEnvelope, signEnvelope, verifyEnvelope } from '../../../src/trust/dsse.js';
import { generateSigningKeyPair, parseSigningKey, parseTrustedKey } from '../../../src/trust/keys.js';
import { TrustError } from '../../../src/trust/trust-error.js';
import { tempDir } from '../../helpers/fake-plugins.js';

const pair = generateSigningKeyPair();
const signer = parseSigningKey(pair.privatePem, 'k');
const trusted = parseTrustedKey(pair.publicPem, 'k.pub');
const TYPE = 'application/vnd.in-toto+json';

describe('DSSE', () => {
  it('PAE matches the specification\'s test vector', () => {
    expect(pae('http://example.com/HelloWorld', Buffer.from('hello world')).toString()).toBe('DSSEv1 29 http://example.com/HelloWorld 11 hello world');
    expect(pae('t', Buffer.from('é')).toString('hex')).toBe(Buffer.from('DSSEv1 1 t 2 é').toString('hex'));
  });

  it('a signed envelope verifies; openssl verifies the same signature over the PAE bytes', async () => {
    const body = Buffer.from('{"_type":"x"}');
    const envelope = signEnvelope(TYPE, body, [signer]);
    expect(envelope.signatures[0]?.keyid).toBe(signer.keyId);
    expect(verifyEnvelope(JSON.stringify(envelope), TYPE, [trusted]).payload.equals(body)).toBe(true);

    // The independent check: OpenSSL's Ed25519 over PAE(type, body) with the public key file.
    const dir = await tempDir('pb-openssl-');
    writeFileSync(join(dir, 'pub.pem'), pair.publicPem);
    writeFileSync(join(dir, 'pae.bin'), pae(TYPE, body));
    writeFileSync(join(dir, 'sig.bin'), Buffer.from(envelope.signatures[0]!.sig, 'base64'));
    const ok = execFileSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', join(dir, 'pub.pem'), '-rawin', '-in', join(dir, 'pae.bin'), '-sigfile', join(dir, 'sig.bin')], { encoding: 'utf8' });
    expect(ok).toContain('Signature Verified Successfully');
    writeFileSync(join(dir, 'pae.bin'), pae('application/json', body)); // the type is signed too
    expect(() => execFileSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', join(dir, 'pub.pem'), '-rawin', '-in', join(dir, 'pae.bin'), '-sigfile', join(dir, 'sig.bin')], { stdio: 'pipe' })).toThrow();
  });

  it('refuses a changed payload, a changed type, an untrusted key, and a keyid that lies', () => {
    const envelope = signEnvelope(TYPE, Buffer.from('payload'), [signer]);
    const other = parseTrustedKey(generateSigningKeyPair().publicPem, 'other.pub');
    const code = (text: string, keys = [trusted]) => {
      try {
        verifyEnvelope(text, TYPE, keys);
        return 'accepted';
      } catch (err) {
        return (err as TrustError).code;
      }
    };
    expect(code(JSON.stringify({ ...envelope, payload: Buffer.from('payloae').toString('base64') }))).toBe('BAD_SIGNATURE');
    expect(code(JSON.stringify({ ...envelope, payloadType: 'application/json' }))).toBe('BAD_SIGNATURE');
    expect(code(JSON.stringify(envelope), [other])).toBe('BAD_SIGNATURE');
    // keyid is an unauthenticated hint: naming the trusted key does not make another signature valid.
    const forged = signEnvelope(TYPE, Buffer.from('payload'), [parseSigningKey(generateSigningKeyPair().privatePem, 'x')]);
    expect(code(JSON.stringify({ ...forged, signatures: [{ keyid: trusted.keyId, sig: forged.signatures[0]!.sig }] }))).toBe('BAD_SIGNATURE');
    // A right signature under a wrong keyid still verifies (the hint only narrows).
    expect(code(JSON.stringify({ ...envelope, signatures: [{ keyid: 'nonsense', sig: envelope.signatures[0]!.sig }] }))).toBe('accepted');
    // base64url is allowed by the protocol.
    const url = { ...envelope, payload: Buffer.from('payload').toString('base64url'), signatures: [{ keyid: '', sig: Buffer.from(envelope.signatures[0]!.sig, 'base64').toString('base64url') }] };
    expect(code(JSON.stringify(url))).toBe('accepted');
  });

  it('strict base64: what Node would silently skip is refused', () => {
    expect(decodeBase64Strict('aGVsbG8=')?.toString()).toBe('hello');
    expect(decodeBase64Strict('aGVsbG8')?.toString()).toBe('hello'); // unpadded base64url
    expect(decodeBase64Strict('aGVs bG8=')).toBeNull();
    expect(decodeBase64Strict('aGVsbG9=')).toBeNull(); // non-canonical trailing bits
    expect(decodeBase64Strict('aGVsbG8=\n')).toBeNull();
    expect(decodeBase64Strict('a')).toBeNull();
  });

  it('fuzz: any bytes, any JSON — the parser answers or throws TrustError, and only signed payloads verify', () => {
    const jsonish = fc.oneof(
      fc.string(),
      fc.json(),
      fc.record({ payload: fc.oneof(fc.string(), fc.base64String()), payloadType: fc.oneof(fc.constant(TYPE), fc.string()), signatures: fc.array(fc.record({ keyid: fc.string(), sig: fc.oneof(fc.base64String(), fc.string()) }), { maxLength: 20 }) }).map((o) => JSON.stringify(o)),
    );
    fc.assert(
      fc.property(jsonish, (text) => {
        try {
          parseEnvelope(text);
        } catch (err) {
          expect(err).toBeInstanceOf(TrustError);
        }
        expect(() => verifyEnvelope(text, TYPE, [trusted])).toThrow(TrustError);
      }),
      { numRuns: 2000 },
    );
  });

  it('fuzz: flipping any bit of a signed envelope\'s payload or signature is refused', () => {
    const envelope = signEnvelope(TYPE, Buffer.from('{"subject":[]}'), [signer]);
    const payload = Buffer.from(envelope.payload, 'base64');
    const sig = Buffer.from(envelope.signatures[0]!.sig, 'base64');
    fc.assert(
      fc.property(fc.boolean(), fc.nat(), fc.integer({ min: 0, max: 7 }), (inPayload, index, bit) => {
        const target = Buffer.from(inPayload ? payload : sig);
        target[index % target.length]! ^= 1 << bit;
        const changed = inPayload ? { ...envelope, payload: target.toString('base64') } : { ...envelope, signatures: [{ keyid: signer.keyId, sig: target.toString('base64') }] };
        expect(() => verifyEnvelope(JSON.stringify(changed), TYPE, [trusted])).toThrow(TrustError);
      }),
      { numRuns: 500 },
    );
  });
});

describe('keys', () => {
  it('keygen output: PKCS#8 / SPKI PEM, key id = sha256 of the SPKI DER (checked with openssl)', async () => {
    expect(pair.privatePem).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(pair.publicPem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    const dir = await tempDir('pb-key-');
    writeFileSync(join(dir, 'pub.pem'), pair.publicPem);
    const der = execFileSync('openssl', ['pkey', '-pubin', '-in', join(dir, 'pub.pem'), '-outform', 'DER']);
    const digest = execFileSync('openssl', ['dgst', '-sha256', '-r'], { input: der, encoding: 'utf8' }).split(' ')[0];
    expect(pair.keyId).toBe(digest);
    expect(signer.keyId).toBe(pair.keyId);
  });

  it('refuses other algorithms, a private key given as trusted, and garbage', async () => {
    const { generateKeyPairSync } = await import('node:crypto');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 });
    expect(() => parseTrustedKey(rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString(), 'rsa.pub')).toThrow(/only Ed25519/);
    expect(() => parseSigningKey(rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), 'rsa.key')).toThrow(/only Ed25519/);
    expect(() => parseTrustedKey(pair.privatePem, 'oops.pub')).toThrow(/private key/);
    expect(() => parseTrustedKey('hello', 'x.pub')).toThrow(/not a PEM public key/);
  });
});
