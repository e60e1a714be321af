import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseChallenge } from '../../../src/registry/challenge.js';

describe('WWW-Authenticate challenges', () => {
  it('reads what registries send', () => {
    expect(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/x:pull"')).toEqual({
      scheme: 'bearer',
      params: Object.assign(Object.create(null), { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/x:pull' }),
    });
    expect(parseChallenge('Basic realm="Registry Realm"')?.scheme).toBe('basic');
    expect(parseChallenge('Bearer realm="a\\"b"')?.params.realm).toBe('a"b');
    expect(parseChallenge('Bearer realm=x, __proto__="y"')?.params.realm).toBe('x');
    expect(parseChallenge(undefined)).toBeNull();
    expect(parseChallenge('')).toBeNull();
  });

  it('fuzz: never throws, never pollutes a prototype, is linear on long input', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 2000 }), (header) => {
        const c = parseChallenge(header);
        if (c) expect(Object.getPrototypeOf(c.params)).toBeNull();
      }),
      { numRuns: 3000 },
    );
    const started = performance.now();
    parseChallenge(`Bearer ${'a=,'.repeat(2700)}`);
    parseChallenge(`Bearer realm="${'\\'.repeat(8000)}`);
    expect(performance.now() - started).toBeLessThan(500);
  });
});
