/**
 * Strict base64 decoding. Node's Buffer.from(…, 'base64') skips characters it does not know,
 * so two different texts can decode to the same bytes; a verifier must reject what a signer
 * could not have written. DSSE allows both the standard and the URL-safe alphabet.
 */
const STANDARD = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const URL_SAFE = /^[A-Za-z0-9_-]*$/;

export function decodeBase64Strict(text: string): Buffer | null {
  if (STANDARD.test(text)) {
    const bytes = Buffer.from(text, 'base64');
    return bytes.toString('base64') === text ? bytes : null;
  }
  if (URL_SAFE.test(text) && text.length % 4 !== 1) {
    const bytes = Buffer.from(text, 'base64url');
    return bytes.toString('base64url') === text ? bytes : null;
  }
  return null;
}
