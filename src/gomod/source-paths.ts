/**
 * Where a Go binary's packages were compiled from, read from its file table (pclntab's
 * NUL-terminated file names). Without -trimpath these are absolute paths, and the directory a
 * package was compiled from is part of the identity plugin.Open compares.
 */
export function goSourceFiles(bytes: Uint8Array): string[] {
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  const found = new Set<string>();
  // A whole table entry: NUL before, NUL after, printable, absolute, a .go file.
  const re = /(?<=\0)\/[\x21-\x7e][\x20-\x7e]{0,4094}?\.go(?=\0)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) found.add(m[0]);
  return [...found].sort();
}

/** The GOROOT the standard library was compiled from: the prefix of `…/src/runtime/proc.go`. */
export function goRootOf(files: readonly string[]): string | null {
  for (const file of files) {
    if (file.endsWith('/src/runtime/proc.go')) return file.slice(0, -'/src/runtime/proc.go'.length);
  }
  return null;
}

export type ModuleDir = { found: string } | { ambiguous: string[] } | { missing: true };

/**
 * The directory a module's sources were compiled from: the one directory D such that
 * D/<file> is in the table for every one of the module's files that appears there at all.
 * `moduleFiles` are the module's .go files relative to its root, as they are in the project.
 */
export function moduleDirIn(files: readonly string[], moduleFiles: readonly string[]): ModuleDir {
  let candidates: string[] | null = null;
  for (const rel of moduleFiles) {
    const dirs = new Set(files.filter((f) => f.endsWith(`/${rel}`)).map((f) => f.slice(0, -rel.length - 1)));
    if (dirs.size === 0) continue; // not linked into the binary (a test file, an unused package)
    candidates = candidates === null ? [...dirs] : candidates.filter((d) => dirs.has(d));
  }
  if (candidates === null) return { missing: true };
  const list = [...candidates].sort();
  return list.length === 1 ? { found: list[0] as string } : list.length === 0 ? { missing: true } : { ambiguous: list };
}
