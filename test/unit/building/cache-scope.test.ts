import { describe, expect, it } from 'vitest';
import { compilerCacheScope } from '../../../src/building/cache-scope.js';

describe('compilerCacheScope', () => {
  it('one volume per project directory and client host; the domain says which', () => {
    const a = compilerCacheScope('/work/a', 'ci-1');
    expect(a.volume).toMatch(/^plugin-builder-cache-[0-9a-f]{16}$/);
    expect(a.domain).toBe('ci-1:/work/a');
    expect(compilerCacheScope('/work/a', 'ci-1').volume).toBe(a.volume);
    expect(compilerCacheScope('/work/b', 'ci-1').volume).not.toBe(a.volume);
    expect(compilerCacheScope('/work/a', 'ci-2').volume).not.toBe(a.volume);
    // No spelling of one domain can be another's: the parts are separated by a NUL.
    expect(compilerCacheScope('b:/x', 'a').volume).not.toBe(compilerCacheScope('/x', 'a:b').volume);
  });
});
