import { BuilderError } from '../errors.js';
import type { GoBuildInfo } from '../elf/go-buildinfo.js';
import { ElfFormatError, readElf } from '../elf/read-elf.js';
import { goSourceFiles } from './source-paths.js';

/** A Go host executable: its build info, and the link-time hashes of the packages it exports to plugins. */
export interface GoHostBinary extends GoBuildInfo {
  packageHashes: Record<string, string>;
  /** Absolute source paths from its file table (none when built with -trimpath). */
  sourceFiles: string[];
  /** The file main.main was compiled from (absolute without -trimpath). */
  mainFile: string | null;
}

/** Read a Go executable's build info out of an image's files (no process is started). */
export async function readGoBinary(files: { readFile(path: string): Promise<Buffer | null> }, image: string, binary: string): Promise<GoHostBinary> {
  const bytes = await files.readFile(binary);
  const fail = (why: string) =>
    new BuilderError('HOST_BINARY_UNUSABLE', `host.binary ${binary} in ${image} ${why}.`, {
      fix: 'Set host.binary to the Go executable that loads the plugins (an absolute path inside the host image).',
    });
  if (!bytes) throw fail('does not exist');
  try {
    const facts = readElf(bytes);
    if (!facts.goBuildInfo) throw fail('has no Go build info (not a Go program, or built without it)');
    return { ...facts.goBuildInfo, packageHashes: facts.goPackageHashes, sourceFiles: goSourceFiles(bytes), mainFile: facts.goMainFile };
  } catch (err) {
    if (err instanceof ElfFormatError) throw fail(`is not a readable ELF executable (${err.message})`);
    throw err;
  }
}

