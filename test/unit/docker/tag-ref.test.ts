import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalTagRef, parseTagRef } from '../../../src/docker/tag-ref.js';

describe('image tag references (distribution/reference grammar)', () => {
  it('one spelling per image name: docker.io/library/x:latest', () => {
    expect(normalTagRef('example-host')).toBe('docker.io/library/example-host:latest');
    expect(normalTagRef('docker.io/library/example-host:latest')).toBe('docker.io/library/example-host:latest');
    expect(normalTagRef('plugin-builder/example-host:bookworm')).toBe('docker.io/plugin-builder/example-host:bookworm');
    expect(normalTagRef('docker.io/plugin-builder/example-host:bookworm')).toBe('docker.io/plugin-builder/example-host:bookworm');
    expect(normalTagRef('127.0.0.1:5000/a/b:v1')).toBe('127.0.0.1:5000/a/b:v1');
    expect(normalTagRef('localhost/x')).toBe('localhost/x:latest');
    expect(normalTagRef('[::1]:5000/x:1')).toBe('[::1]:5000/x:1');
  });

  it.each([
    ['', /empty/],
    ['a/b:x\ny', /control character/],
    ['a b', /space/],
    ['a/B', /path component "B"/],
    ['a/b@sha256:' + 'a'.repeat(64), /digest/],
    ['a/b:' + 'x'.repeat(129), /the tag/],
    ['a/b:-x', /the tag/],
    ['a//b', /path component ""/],
    ['a/b:', /the tag ""/],
    ['reg.example.com:99999x/a', /not a registry|path component|tag/],
    ['x'.repeat(256), /longer than 255/],
  ])('refuses %j', (ref, problem) => {
    const parsed = parseTagRef(ref);
    expect('problem' in parsed && parsed.problem).toMatch(problem);
  });

  it('fuzz: never throws; an accepted reference is printable ASCII with a valid tag, and normalising is idempotent', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 80 }), fc.stringMatching(/^[a-z0-9.:/_@-]{0,60}$/)), (ref) => {
        const parsed = parseTagRef(ref);
        if ('problem' in parsed) return;
        expect(ref).toMatch(/^[\x21-\x7e]+$/);
        expect(parsed.tag).toMatch(/^[\w][\w.-]{0,127}$/);
        const normal = normalTagRef(ref)!;
        expect(normalTagRef(normal)).toBe(normal);
      }),
      { numRuns: 1000 },
    );
  });
});
