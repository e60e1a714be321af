import type { ImageInfo } from '../docker/engine.js';
import { ROLE_LABEL } from '../docker/engine.js';
import { BuilderError } from '../errors.js';

/**
 * A registry repository holding builder images under their input tags, so a fresh CI runner
 * pulls the toolchain layer instead of running apt (`--cache-from` / `--cache-to`). Pure: the
 * pulls and pushes are the caller's.
 */

// Docker's reference grammar (distribution/reference): an optional registry host[:port], then
// lowercase path components separated by single . _ __ or runs of -.
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const REGISTRY_HOST = '(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\\[[0-9a-fA-F:]+\\])(?::[0-9]{1,5})?';
const HOST = new RegExp(`^${REGISTRY_HOST}$`);
const PATH = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);

/** As Docker splits a name: the first component is a registry only when it has a dot or a port, or is localhost. */
function isRepository(value: string): boolean {
  const slash = value.indexOf('/');
  const first = slash < 0 ? '' : value.slice(0, slash);
  if (first && (/[.:[]/.test(first) || first === 'localhost')) return HOST.test(first) && PATH.test(value.slice(slash + 1));
  return PATH.test(value);
}

/** Check a --cache-from / --cache-to value: a repository, without a tag or digest (the tag is the builder's input hash). */
export function parseCacheRepository(option: string, value: string): string {
  const fix = `Give a repository such as 127.0.0.1:5000/ci/plugin-builder-cache: ${option} adds the builder's input hash as the tag.`;
  if (value.length > 255) throw new BuilderError('BAD_OPTION', `${option} is ${value.length} characters long; a repository name has at most 255.`, { fix });
  const lastSlash = value.lastIndexOf('/');
  if (value.includes('@') || value.lastIndexOf(':') > lastSlash) {
    throw new BuilderError('BAD_OPTION', `${option} "${value}" names a tag or digest.`, { fix });
  }
  if (lastSlash < 0 && value.includes('.')) {
    throw new BuilderError('BAD_OPTION', `${option} "${value}" looks like a registry host without a repository (Docker would read it as docker.io/library/${value}).`, { fix });
  }
  if (!isRepository(value)) {
    throw new BuilderError('BAD_OPTION', `${option} "${value}" is not a repository name.`, { fix });
  }
  return value;
}

/** `plugin-builder/builder:<hash>` in `repository`: the same input hash, so the same inputs find it. */
export function cachedBuilderRef(repository: string, builderTag: string): string {
  return `${repository}:${builderTag.slice(builderTag.lastIndexOf(':') + 1)}`;
}

/**
 * Why a builder image pulled from a cache must not be used, or null when it may. An image ID
 * names a config, and a config lists its layers: an image derived from the base carries all
 * of the base's layers first. A builder that does not is not the base plus a toolchain —
 * whatever else it is, it would compile plugins against another C library.
 */
export function cachedBuilderProblem(pulled: Pick<ImageInfo, 'labels' | 'layers'>, base: Pick<ImageInfo, 'id' | 'layers'>): string | null {
  if (pulled.labels[ROLE_LABEL] !== 'builder') return `it is not a plugin-builder builder image (label ${ROLE_LABEL} is ${JSON.stringify(pulled.labels[ROLE_LABEL] ?? null)})`;
  if (pulled.labels['io.plugin-builder.base'] !== base.id) return `it was built from ${pulled.labels['io.plugin-builder.base'] ?? 'an unrecorded base'}, not ${base.id}`;
  if (base.layers.length === 0 || pulled.layers.length <= base.layers.length || base.layers.some((layer, i) => pulled.layers[i] !== layer)) {
    return `its layers do not start with the base image's ${base.layers.length} layer(s) and add the toolchain's`;
  }
  return null;
}
