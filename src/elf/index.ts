export { ElfFormatError, readElf, type ElfFacts, type ElfType, type ImportedSymbol, type VersionedImport } from './read-elf.js';
export { parseGoBuildInfo, parseModInfo, type GoBuildInfo, type GoModule } from './go-buildinfo.js';
export { compareVersions, glibcRequirement } from './versions.js';
export { readElfHeader, type ElfHeader } from './elf-header.js';
