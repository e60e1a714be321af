import { describe, expect, it } from 'vitest';
import { lockfileSigner } from '../../../src/cli/signing-key-file.js';
import { lockFor } from '../../helpers/fake-plugins.js';
import { serializeLockfile } from '../../../src/lock/lockfile.js';
import { generateSigningKeyPair, parseSigningKey } from '../../../src/trust/keys.js';
import { parseStatement } from '../../../src/trust/statement.js';

const serialOf = (envelope: string) => parseStatement(Buffer.from((JSON.parse(envelope) as { payload: string }).payload, 'base64')).serial;

describe('signing serials', () => {
  const key = parseSigningKey(generateSigningKeyPair().privatePem, 'k');
  const lock = lockFor({ 'libgreet.so': 'GREET:1:0' });
  const text = serializeLockfile(lock);

  it('the signing time, never below the previous signature of this key (a clock that went back still outranks it)', () => {
    let clock = 5_000_000;
    const signer = lockfileSigner(key, () => clock);
    const first = signer.sign(lock, text, null);
    expect(serialOf(first)).toBe(5_000_000);
    clock = 4_000_000;
    expect(serialOf(signer.sign(lock, text, first))).toBe(5_000_001);
    // Another key's signature beside the lockfile does not count.
    const other = lockfileSigner(parseSigningKey(generateSigningKeyPair().privatePem, 'o'), () => 9_000_000).sign(lock, text, null);
    expect(serialOf(signer.sign(lock, text, other))).toBe(4_000_000);
    expect(signer.vouched(text, first)).toBe(5_000_000);
    expect(signer.vouched(`${text} `, first)).toBeNull();
  });

  it('a previous serial more than a day ahead of this clock (a wrong clock somewhere) is refused, with the way back', () => {
    const future = lockfileSigner(key, () => Date.now() + 3 * 24 * 3600 * 1000).sign(lock, text, null);
    expect(() => lockfileSigner(key).sign(lock, text, future)).toThrow(/more than a day ahead of this machine's clock/);
  });
});
