import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cachedBuilderProblem, cachedBuilderRef, parseCacheRepository } from '../../../src/building/builder-cache.js';
import { builderImageTag, type BuilderCacheEvent, ensureBuilderImage } from '../../../src/building/builder-image.js';
import type { DockerEngine, ImageInfo } from '../../../src/docker/engine.js';
import { BuilderError, EngineLostError, ImagePullError } from '../../../src/errors.js';
import { REPO } from '../../helpers/project.js';

const BASE = { id: 'sha256:base', layers: ['sha256:l1', 'sha256:l2'] };
const builderLabels = { 'io.plugin-builder.managed': 'true', 'io.plugin-builder.role': 'builder', 'io.plugin-builder.base': BASE.id };
const image = (id: string, extra: Partial<ImageInfo> = {}): ImageInfo => ({
  id,
  architecture: 'amd64',
  os: 'linux',
  labels: {},
  env: [],
  entrypoint: [],
  cmd: [],
  repoDigests: [],
  layers: [],
  ...extra,
});

describe('parseCacheRepository', () => {
  it('takes repositories, with or without a registry host and port', () => {
    for (const ok of ['127.0.0.1:5000/ci/cache', 'localhost:5000/x', 'registry.example.com/team/plugin-builder-cache', 'ghcr.io/o/r', 'cache', 'a/b__c/d-e', '[::1]:5000/x']) {
      expect(parseCacheRepository('--cache-from', ok)).toBe(ok);
    }
  });

  it('refuses a tag, a digest, upper case, a bare host and empty components, naming the option and the fix', () => {
    for (const bad of ['127.0.0.1:5000/ci/cache:v1', 'cache@sha256:' + 'a'.repeat(64), 'Cache/x', '127.0.0.1:5000', 'registry.example.com', 'a//b', '', '/x', 'x/', 'a/-b', 'a b']) {
      expect(() => parseCacheRepository('--cache-to', bad), bad).toThrow(BuilderError);
    }
    expect(() => parseCacheRepository('--cache-to', 'r/x:tag')).toThrow('--cache-to "r/x:tag" names a tag or digest.');
  });

  it('whatever it accepts is a name Docker would parse as a repository without a tag (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (value) => {
        let accepted: string;
        try {
          accepted = parseCacheRepository('--cache-from', value);
        } catch (err) {
          return err instanceof BuilderError && err.code === 'BAD_OPTION';
        }
        const ref = cachedBuilderRef(accepted, 'plugin-builder/builder:0123456789abcdef0123');
        return !/[\s@A-Z]/.test(accepted.slice(accepted.indexOf('/') + 1)) && ref.endsWith(':0123456789abcdef0123') && !accepted.endsWith('/');
      }),
      { numRuns: 2000 },
    );
  });
});

describe('cachedBuilderProblem', () => {
  it('accepts the base layers followed by more, and refuses anything else', () => {
    expect(cachedBuilderProblem({ labels: builderLabels, layers: [...BASE.layers, 'sha256:tool'] }, BASE)).toBeNull();
    expect(cachedBuilderProblem({ labels: builderLabels, layers: ['sha256:other', 'sha256:l2', 'sha256:tool'] }, BASE)).toContain("do not start with the base image's 2 layer(s)");
    expect(cachedBuilderProblem({ labels: builderLabels, layers: BASE.layers }, BASE)).toContain('do not start');
    expect(cachedBuilderProblem({ labels: { ...builderLabels, 'io.plugin-builder.base': 'sha256:x' }, layers: [...BASE.layers, 't'] }, BASE)).toBe(`it was built from sha256:x, not ${BASE.id}`);
    expect(cachedBuilderProblem({ labels: {}, layers: [...BASE.layers, 't'] }, BASE)).toContain('not a plugin-builder builder image');
  });
});

/** An engine holding images by reference, and a registry holding them by reference, in memory. */
function fakeEngine(opts: { registry?: Map<string, ImageInfo>; pullError?: Error; pushError?: Error } = {}) {
  const local = new Map<string, ImageInfo>([[BASE.id, image(BASE.id, { layers: BASE.layers })]]);
  const registry = opts.registry ?? new Map<string, ImageInfo>();
  const calls: string[] = [];
  const engine = {
    endpoint: 'fake',
    inspectImage: async (ref: string) => local.get(ref) ?? null,
    pullImage: async (ref: string) => {
      calls.push(`pull ${ref}`);
      if (opts.pullError) throw opts.pullError;
      const found = registry.get(ref);
      if (!found) throw new ImagePullError(ref, 'manifest unknown');
      local.set(ref, found);
      return found;
    },
    tagImage: async (id: string, ref: string) => {
      calls.push(`tag ${ref}`);
      local.set(ref, [...local.values()].find((i) => i.id === id) as ImageInfo);
    },
    removeImage: async (ref: string) => {
      calls.push(`remove ${ref}`);
      local.delete(ref);
    },
    pushImage: async (ref: string) => {
      calls.push(`push ${ref}`);
      if (opts.pushError) throw opts.pushError;
      registry.set(ref, local.get(ref) as ImageInfo);
      return 'sha256:digest';
    },
    buildImage: async (request: { tag: string; labels: Record<string, string> }) => {
      calls.push(`build ${request.tag}`);
      const built = image('sha256:built', { labels: request.labels, layers: [...BASE.layers, 'sha256:tool'] });
      local.set(request.tag, built);
      return built;
    },
  };
  return { engine: engine as unknown as DockerEngine, local, registry, calls };
}

describe('ensureBuilderImage with a cache (fake engine)', () => {
  const request = { baseImageId: BASE.id, packages: ['gcc'], recipeDir: REPO };
  const cached = image('sha256:cached', { labels: builderLabels, layers: [...BASE.layers, 'sha256:tool'] });

  it('engine has it: reused, nothing pulled; --cache-to still pushes it (and drops the push reference)', async () => {
    const tag = await builderImageTag(request);
    const fake = fakeEngine();
    fake.local.set(tag, cached);
    const events: BuilderCacheEvent[] = [];
    const got = await ensureBuilderImage(fake.engine, request, () => {}, { from: 'r/c', to: 'r/c', onEvent: (e) => events.push(e) });
    expect(got.source).toBe('reused');
    const ref = cachedBuilderRef('r/c', tag);
    expect(fake.calls).toEqual([`tag ${ref}`, `push ${ref}`, `remove ${ref}`]);
    expect(events).toMatchObject([{ type: 'pushed', ref, digest: 'sha256:digest' }]);
  });

  it('engine lacks it, cache has it: pulled, tagged as the local builder, not built, not pushed back to the same repository', async () => {
    const tag = await builderImageTag(request);
    const ref = cachedBuilderRef('r/c', tag);
    const fake = fakeEngine({ registry: new Map([[ref, cached]]) });
    const got = await ensureBuilderImage(fake.engine, request, () => {}, { from: 'r/c', to: 'r/c' });
    expect(got).toMatchObject({ id: 'sha256:cached', tag, source: 'pulled' });
    expect(fake.calls).toEqual([`pull ${ref}`, `tag ${tag}`, `remove ${ref}`]);
    expect(fake.local.get(tag)?.id).toBe('sha256:cached');
  });

  it('a miss or an unreachable registry builds here; a cached image not derived from the base is refused, removed, and built here', async () => {
    for (const [fake, reason] of [
      [fakeEngine(), 'manifest unknown'],
      [fakeEngine({ pullError: new ImagePullError('r/c:x', 'dial tcp 127.0.0.1:5000: connect: connection refused') }), 'connection refused'],
    ] as const) {
      const events: BuilderCacheEvent[] = [];
      const got = await ensureBuilderImage(fake.engine, request, () => {}, { from: 'r/c', onEvent: (e) => events.push(e) });
      expect(got.source).toBe('built');
      expect(events).toMatchObject([{ type: 'miss' }]);
      expect((events[0] as { reason: string }).reason).toContain(reason);
    }
    const tag = await builderImageTag(request);
    const ref = cachedBuilderRef('r/c', tag);
    const poisoned = image('sha256:poison', { labels: builderLabels, layers: ['sha256:evil', 'sha256:tool'] });
    const fake = fakeEngine({ registry: new Map([[ref, poisoned]]) });
    const events: BuilderCacheEvent[] = [];
    const got = await ensureBuilderImage(fake.engine, request, () => {}, { from: 'r/c', onEvent: (e) => events.push(e) });
    expect(got).toMatchObject({ id: 'sha256:built', source: 'built' });
    expect(fake.calls).toEqual([`pull ${ref}`, `remove ${ref}`, `build ${tag}`]);
    expect(events[0]).toMatchObject({ type: 'miss', reason: "refused the cached image: its layers do not start with the base image's 2 layer(s) and add the toolchain's" });
  });

  it('an engine lost during the pull is not a miss: it fails the build; a failed --cache-to push fails it too, leaving no push reference', async () => {
    const lost = fakeEngine({ pullError: new EngineLostError('fake', 'pulling', 'the connection failed (ECONNRESET)') });
    await expect(ensureBuilderImage(lost.engine, request, () => {}, { from: 'r/c' })).rejects.toBeInstanceOf(EngineLostError);
    const failing = fakeEngine({ pushError: new Error('denied') });
    await expect(ensureBuilderImage(failing.engine, request, () => {}, { to: 'r/c' })).rejects.toThrow('denied');
    const tag = await builderImageTag(request);
    expect(failing.local.has(cachedBuilderRef('r/c', tag))).toBe(false);
  });
});
