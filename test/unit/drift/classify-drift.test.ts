import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classifyDrift, type DriftState } from '../../../src/drift/detect-drift.js';

const ID_A = `sha256:${'a'.repeat(64)}`;
const ID_B = `sha256:${'b'.repeat(64)}`;
const digest = (repo: string, c: string) => `${repo}@sha256:${c.repeat(64)}`;
const LIBC = [{ field: 'libc.version', expected: '2.36', actual: '2.41' }];

describe('classifyDrift', () => {
  it('same image and digest: none; a moved tag (same repository, other digest) or another image ID: benign; a changed environment: breaking', () => {
    const locked: DriftState = { imageId: ID_A, repoDigest: digest('127.0.0.1:5000/h', '1') };
    expect(classifyDrift(locked, { ...locked }, [])).toBe('no-drift');
    expect(classifyDrift(locked, { imageId: ID_A, repoDigest: digest('127.0.0.1:5000/h', '2') }, [])).toBe('benign');
    expect(classifyDrift(locked, { imageId: ID_B, repoDigest: locked.repoDigest }, [])).toBe('benign');
    expect(classifyDrift(locked, { ...locked }, LIBC)).toBe('breaking');
  });

  it('digests of different repositories, or a side without one, say nothing: the image ID decides', () => {
    const locked: DriftState = { imageId: ID_A, repoDigest: digest('127.0.0.1:5000/h', '1') };
    expect(classifyDrift(locked, { imageId: ID_A, repoDigest: digest('registry.example:443/h', '2') }, [])).toBe('no-drift');
    expect(classifyDrift(locked, { imageId: ID_A, repoDigest: null }, [])).toBe('no-drift');
    expect(classifyDrift({ imageId: ID_A, repoDigest: null }, { imageId: ID_A, repoDigest: digest('h', '2') }, [])).toBe('no-drift');
  });

  it('any environment difference is breaking, and no-drift needs an equal image ID (property)', () => {
    const state = fc.record({ imageId: fc.constantFrom(ID_A, ID_B), repoDigest: fc.option(fc.constantFrom(digest('r/h', '1'), digest('r/h', '2'), digest('s/h', '1')), { nil: null }) });
    fc.assert(
      fc.property(state, state, fc.boolean(), (locked, current, changed) => {
        const outcome = classifyDrift(locked, current, changed ? LIBC : []);
        if (changed) return outcome === 'breaking';
        if (locked.imageId !== current.imageId) return outcome === 'benign';
        return outcome !== 'breaking';
      }),
    );
  });
});
