/**
 * Modules a Go object was compiled from, read from its file table: with -trimpath every
 * source of a dependency is recorded as `module@version/file.go`. Used for Go plugins, which
 * carry no .go.buildinfo section (checked with Go 1.19: none, and no Go version string).
 */
export function modulesFromFilePaths(bytes: Uint8Array): Array<{ path: string; version: string }> {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  // A module path's first element has a dot (example.com/x); versions are semantic.
  const re = /((?:[a-z0-9][a-z0-9\-_~]*\.)+[a-z]{2,}(?:\/[A-Za-z0-9._~\-+]+)*)@(v\d+\.\d+\.\d+(?:-[0-9A-Za-z.\-]+)?(?:\+incompatible)?)\//g;
  const found = new Map<string, string>();
  for (let m = re.exec(text); m; m = re.exec(text)) found.set(`${m[1]}@${m[2]}`, m[2] as string);
  return [...found.keys()]
    .sort()
    .map((key) => {
      const at = key.lastIndexOf('@');
      return { path: key.slice(0, at), version: key.slice(at + 1) };
    });
}
