import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProofLines } from '../../../src/runtime/canary-protocol.js';

const NONCE = '0123456789abcdef0123456789abcdef';
const FILES = new Set(['/builder-proof/liba.so', '/builder-proof/libb.so']);

function parse(text: string | Buffer, chunks = 1): ProofLines {
  const lines = new ProofLines(NONCE, FILES);
  const buffer = Buffer.isBuffer(text) ? text : Buffer.from(text, 'latin1');
  const size = Math.max(1, Math.ceil(buffer.length / chunks));
  for (let i = 0; i < buffer.length; i += size) lines.push(buffer.subarray(i, i + size));
  lines.end();
  return lines;
}

describe('the proof and canary report protocol (runtime/canary-protocol.ts)', () => {
  it('reads loading / loaded / failed / done for the files asked about, and remembers the unfinished one', () => {
    const out = parse(`\n${NONCE} loading /builder-proof/liba.so\n\n${NONCE} loaded /builder-proof/liba.so\n\n${NONCE} loading /builder-proof/libb.so\n`);
    expect(out.results.get('/builder-proof/liba.so')).toEqual({ state: 'loaded' });
    expect(out.results.get('/builder-proof/libb.so')).toEqual({ state: 'loading' });
    expect(out.unfinished).toBe('/builder-proof/libb.so');
    expect(out.done).toBe(false);
    const failed = parse(`${NONCE} loading /builder-proof/liba.so\n${NONCE} failed /builder-proof/liba.so libz.so.1: cannot open shared object file\n${NONCE} done\n`);
    expect(failed.results.get('/builder-proof/liba.so')).toEqual({ state: 'failed', message: 'libz.so.1: cannot open shared object file' });
    expect(failed.unfinished).toBeNull();
    expect(failed.done).toBe(true);
  });

  it('another nonce, a file not asked about, a line glued to plugin output, a later line against a verdict: none counts', () => {
    const out = parse(
      `ffffffffffffffffffffffffffffffff loaded /builder-proof/libb.so\n` +
        `${NONCE} loaded /etc/passwd\n` +
        `garbage${NONCE} loaded /builder-proof/libb.so\n` +
        `${NONCE} loading /builder-proof/liba.so\n` +
        `${NONCE} failed /builder-proof/liba.so undefined symbol: x\n` +
        `${NONCE} loaded /builder-proof/liba.so\n`,
    );
    expect(out.results.get('/builder-proof/libb.so')).toBeUndefined();
    expect(out.results.has('/etc/passwd')).toBe(false);
    expect(out.results.get('/builder-proof/liba.so')).toEqual({ state: 'failed', message: 'undefined symbol: x' });
  });

  it('a line longer than 16 KiB is dropped to its end, and what follows is read', () => {
    const out = parse(`${NONCE} loading /builder-proof/liba.so\n${NONCE} loaded /builder-proof/liba.so ${'x'.repeat(40_000)}\n${NONCE} loading /builder-proof/libb.so\n${NONCE} loaded /builder-proof/libb.so\n`, 7);
    expect(out.results.get('/builder-proof/liba.so')).toEqual({ state: 'loading' });
    expect(out.results.get('/builder-proof/libb.so')).toEqual({ state: 'loaded' });
  });

  it('a verdict counts only for the file being loaded: a plugin forging "loaded" for the next one is ignored, and the next one is the culprit when the process dies in it', () => {
    const out = parse(
      `${NONCE} loading /builder-proof/liba.so\n` +
        // liba's constructor read the nonce and claims libb loaded, before libb was even opened.
        `${NONCE} loaded /builder-proof/libb.so\n` +
        `${NONCE} loaded /builder-proof/liba.so\n` +
        `${NONCE} loading /builder-proof/libb.so\n`,
    );
    expect(out.results.get('/builder-proof/liba.so')).toEqual({ state: 'loaded' });
    expect(out.results.get('/builder-proof/libb.so')).toEqual({ state: 'loading' });
    expect(out.unfinished).toBe('/builder-proof/libb.so');
  });

  it('refuses a nonce that is not 16 to 64 lowercase hex digits (a weak nonce is a forgeable protocol)', () => {
    expect(() => new ProofLines('abc', FILES)).toThrow();
    expect(() => new ProofLines('G'.repeat(32), FILES)).toThrow();
  });

  it('property: any bytes, in any chunking, around the real lines never change their verdicts, and memory stays bounded', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4000 }), fc.uint8Array({ maxLength: 4000 }), fc.integer({ min: 1, max: 50 }), (before, after, chunks) => {
        const real = Buffer.from(`\n${NONCE} loading /builder-proof/liba.so\n\n${NONCE} failed /builder-proof/liba.so boom\n\n${NONCE} loading /builder-proof/libb.so\n\n${NONCE} loaded /builder-proof/libb.so\n`);
        // Whatever precedes cannot contain our nonce by chance; strip it if the generator made it.
        const noise = (b: Uint8Array) => Buffer.from(Buffer.from(b).toString('latin1').split(NONCE).join(''), 'latin1');
        const out = parse(Buffer.concat([noise(before), real, noise(after)]), chunks);
        expect(out.results.get('/builder-proof/liba.so')).toEqual({ state: 'failed', message: 'boom' });
        expect(out.results.get('/builder-proof/libb.so')).toEqual({ state: 'loaded' });
        expect(out.results.size).toBe(2);
      }),
      { numRuns: 300 },
    );
  });
});
