import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatReference, isLoopbackRegistry, parseReference, ReferenceError } from '../../../src/oci/reference.js';

const D = `sha256:${'ab'.repeat(32)}`;

describe('image references, read as the distribution reference grammar reads them', () => {
  it.each([
    [`127.0.0.1:5000/team/plugins@${D}`, { registry: '127.0.0.1:5000', repository: 'team/plugins', digest: D }],
    ['ghcr.io/org/set:v1', { registry: 'ghcr.io', repository: 'org/set', tag: 'v1' }],
    ['localhost/x:1.0', { registry: 'localhost', repository: 'x', tag: '1.0' }],
    ['plugins', { registry: 'docker.io', repository: 'library/plugins' }],
    ['team/plugins:latest', { registry: 'docker.io', repository: 'team/plugins', tag: 'latest' }],
    [`[::1]:5000/a/b:t@${D}`, { registry: '[::1]:5000', repository: 'a/b', tag: 't', digest: D }],
  ])('%s', (text, expected) => {
    expect(parseReference(text)).toEqual(expected);
  });

  it.each([
    ['team/Plugins', 'lowercase'],
    ['reg.io/a@sha256:abc', 'digest'],
    [`reg.io/a@sha512:${'a'.repeat(128)}`, 'digest'],
    ['reg.io/a:-bad', 'not a tag'],
    ['reg.io:99999/a', 'port'],
    ['reg.io/../a', 'lowercase path'],
    ['reg.io/a//b', 'lowercase path'],
    ['', '1 to 4096'],
    [`reg.io/${'a'.repeat(300)}`, 'longer than 255'],
  ])('refuses %s', (text, why) => {
    expect(() => parseReference(text)).toThrow(why);
  });

  it('loopback registries are told apart from look-alikes', () => {
    expect(['127.0.0.1:5000', 'localhost:5000', '[::1]:5000', '127.9.9.9'].map(isLoopbackRegistry)).toEqual([true, true, true, true]);
    expect(['127.0.0.1.evil.io', 'localhost.evil.io', '10.0.0.1:5000', 'registry.io'].map(isLoopbackRegistry)).toEqual([false, false, false, false]);
  });

  it('fuzz: any string either parses to a reference that formats and parses back the same, or is a ReferenceError', () => {
    const alphabet = fc.constantFrom(...'abz09._-/:@[]ABsha256'.split(''), `@${D}`, 'localhost/', '127.0.0.1:5000/');
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), fc.array(alphabet, { maxLength: 40 }).map((a) => a.join(''))), (text) => {
        let ref;
        try {
          ref = parseReference(text);
        } catch (err) {
          expect(err).toBeInstanceOf(ReferenceError);
          return;
        }
        expect(parseReference(formatReference(ref))).toEqual(ref);
      }),
      { numRuns: 3000 },
    );
  });
});
