import { posix } from 'node:path';
import { isLocalReplacement } from '../gomod/parse-go-mod.js';
import type { GoModFile } from '../gomod/parse-go-mod.js';
import type { GoHostBinary } from '../gomod/read-go-binary.js';
import { goRootOf, type ModuleDir, moduleDirIn } from '../gomod/source-paths.js';
import { SOURCE_DIR, type SourceFile } from './sources.js';

/** A local module placed where the host compiled it, and the plugin's go.mod pointed there. */
export interface GoSourceMove {
  module: string;
  /** Where the module's sources are in the build container (under SOURCE_DIR). */
  from: string;
  /** The directory the host binary compiled it from. */
  to: string;
}

export type GoSourceLayout = { moves: GoSourceMove[] } | { refused: string };

const REBUILD_HOST = 'or rebuild the host with -trimpath, which makes package identities independent of directories';

/**
 * A host built without -trimpath identifies each package also by the directory it was compiled
 * from, so a plugin must compile every package it shares with the host from the same
 * directories. Reproduced here: the standard library (the builder's GOROOT must be the host's)
 * and the modules the plugin replaces with local directories (placed at the host's paths).
 * Anything else cannot be reproduced and is refused before building, with the reason.
 */
export function goSourceLayout(
  files: readonly SourceFile[],
  workdir: string,
  goMod: GoModFile | null,
  host: GoHostBinary,
  binary: string,
  builderGoRoot: string | undefined,
): GoSourceLayout {
  if (host.settings['-trimpath'] === 'true' || host.sourceFiles.length === 0) return { moves: [] };
  const hostRoot = goRootOf(host.sourceFiles);
  if (hostRoot !== null && builderGoRoot !== undefined && hostRoot !== builderGoRoot) {
    return {
      refused:
        `${binary} was built without -trimpath from the standard library at ${hostRoot}, and the builder's Go is at ${builderGoRoot}: ` +
        `every standard package would differ ("plugin was built with a different version of package runtime/…"). ` +
        `Use a builder.base whose Go is installed at ${hostRoot}, ${REBUILD_HOST}.`,
    };
  }
  const moves: GoSourceMove[] = [];
  for (const replace of goMod?.replace ?? []) {
    if (!isLocalReplacement(replace.to)) continue;
    const linked = host.deps.find((d) => d.path === replace.from);
    if (!linked) continue; // not shared with the host: its directory is the plugin's business
    const from = posix.normalize(posix.join(workdir, replace.to));
    const prefix = `${from.slice(SOURCE_DIR.length + 1)}/`;
    const moduleFiles = files.filter((f) => f.path.startsWith(prefix) && f.path.endsWith('.go')).map((f) => f.path.slice(prefix.length));
    const dir = hostModuleDir(host, linked.replace?.path ?? null, moduleFiles);
    if ('missing' in dir) {
      return {
        refused:
          `${binary} was built without -trimpath and links ${replace.from}${linked.replace ? ` (replaced with ${linked.replace.path})` : ' from its module cache'}, ` +
          `and where it compiled it cannot be told from the binary: make the host replace ${replace.from} with a local directory as the plugin does, ${REBUILD_HOST}.`,
      };
    }
    if ('ambiguous' in dir) {
      return { refused: `${binary} was built without -trimpath and its file table places ${replace.from}'s files in ${dir.ambiguous.join(' and ')}: ${REBUILD_HOST}.` };
    }
    if (dir.found === from) continue; // already where the host compiled it
    if (dir.found === SOURCE_DIR || dir.found.startsWith(`${SOURCE_DIR}/`)) {
      return { refused: `${binary} compiled ${replace.from} from ${dir.found}, where the builder keeps the plugin's own sources (${SOURCE_DIR}): ${REBUILD_HOST}.` };
    }
    moves.push({ module: replace.from, from, to: dir.found });
  }
  return { moves };
}

/**
 * Where the host compiled a module it replaces with a local directory. Go resolves a relative
 * replacement against the main module's directory, and main.main's file gives that directory
 * (its package's directory, less the package's path inside the module). Packages whose
 * functions the host links also appear in the file table, which must agree.
 */
function hostModuleDir(host: GoHostBinary, replacement: string | null, moduleFiles: readonly string[]): ModuleDir {
  const table = moduleDirIn(host.sourceFiles, moduleFiles);
  let computed: string | null = null;
  if (replacement !== null && isLocalReplacement(replacement)) {
    const mainDir = host.mainFile && posix.isAbsolute(host.mainFile) ? mainModuleDir(posix.dirname(host.mainFile), host.path, host.main?.path ?? null) : null;
    computed = posix.isAbsolute(replacement) ? posix.normalize(replacement) : mainDir ? posix.normalize(posix.join(mainDir, replacement)) : null;
  }
  if ('ambiguous' in table) return table;
  if ('found' in table) return computed === null || computed === table.found ? table : { ambiguous: [computed, table.found].sort() };
  return computed === null ? { missing: true } : { found: computed };
}

/** The main module's directory from its main package's: `/w/app/cmd/x` for `m/cmd/x` in module `m` is `/w/app`. */
function mainModuleDir(packageDir: string, packagePath: string | null, modulePath: string | null): string | null {
  if (!packagePath || !modulePath) return null;
  if (packagePath === modulePath) return packageDir;
  if (!packagePath.startsWith(`${modulePath}/`)) return null;
  const inside = packagePath.slice(modulePath.length);
  return packageDir.endsWith(inside) ? packageDir.slice(0, -inside.length) || '/' : null;
}
