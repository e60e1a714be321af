import { describe, expect, it } from 'vitest';
import { repoAndTag, repoDigestFor, repositoryOf } from '../../../src/docker/image-ref.js';

const D = `sha256:${'a'.repeat(64)}`;
const E = `sha256:${'b'.repeat(64)}`;

describe('image references', () => {
  it('the repository of tag and digest references, registry ports included', () => {
    expect(repositoryOf('127.0.0.1:5000/pb/host:t1')).toBe('127.0.0.1:5000/pb/host');
    expect(repositoryOf(`127.0.0.1:5000/pb/host@${D}`)).toBe('127.0.0.1:5000/pb/host');
    expect(repositoryOf('127.0.0.1:5000/pb/host')).toBe('127.0.0.1:5000/pb/host');
    expect(repositoryOf('plugin-builder/example-host:bookworm')).toBe('plugin-builder/example-host');
    expect(repositoryOf(`reg:5000/x:t@${D}`)).toBe('reg:5000/x');
  });

  it('repo and tag for the engine: a registry port is not a tag, no tag means latest', () => {
    expect(repoAndTag('127.0.0.1:5000/ci/cache:3f2a-compiler-cache')).toEqual(['127.0.0.1:5000/ci/cache', '3f2a-compiler-cache']);
    expect(repoAndTag('127.0.0.1:5000/ci/cache')).toEqual(['127.0.0.1:5000/ci/cache', 'latest']);
    expect(repoAndTag('pb-test/deployed:1a2b')).toEqual(['pb-test/deployed', '1a2b']);
  });

  it('the repo digest in the reference\'s own repository, or none', () => {
    const digests = [`other:5000/pb/host@${E}`, `127.0.0.1:5000/pb/host@${D}`];
    expect(repoDigestFor('127.0.0.1:5000/pb/host:t1', digests)).toBe(`127.0.0.1:5000/pb/host@${D}`);
    expect(repoDigestFor(`127.0.0.1:5000/pb/host@${D}`, digests)).toBe(`127.0.0.1:5000/pb/host@${D}`);
    expect(repoDigestFor(`127.0.0.1:5000/pb/host@${E}`, digests)).toBeUndefined();
    expect(repoDigestFor('plugin-builder/example-host:bookworm', digests)).toBeUndefined();
    expect(repoDigestFor('plugin-builder/example-host:bookworm', [])).toBeUndefined();
  });
});
