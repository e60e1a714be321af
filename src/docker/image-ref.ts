/** The repository of an image reference: `reg:5000/a/b:tag` and `reg:5000/a/b@sha256:…` → `reg:5000/a/b`. */
export function repositoryOf(ref: string): string {
  const at = ref.indexOf('@');
  const name = at >= 0 ? ref.slice(0, at) : ref;
  const colon = name.lastIndexOf(':');
  // A colon after the last slash separates a tag; one before it belongs to a registry's port.
  return colon > name.lastIndexOf('/') ? name.slice(0, colon) : name;
}

/** `repo:tag` as the engine's tag and import calls want it: `[repo, tag]`, the tag `latest` when none is given. */
export function repoAndTag(ref: string): [string, string] {
  const repository = repositoryOf(ref);
  return [repository, ref.slice(repository.length + 1) || 'latest'];
}

/**
 * The repo digest (`repo@sha256:…`) that names this reference's image in its own repository:
 * the reference itself when it is a digest reference, else the image's digest in the
 * reference's repository. Undefined for an image that was never pushed or pulled there.
 */
export function repoDigestFor(ref: string, repoDigests: readonly string[]): string | undefined {
  if (/@sha256:[0-9a-f]{64}$/.test(ref)) return repoDigests.includes(ref) ? ref : undefined;
  const repository = repositoryOf(ref);
  return repoDigests.find((d) => repositoryOf(d) === repository);
}
