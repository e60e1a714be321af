/** Malformed or unsupported ELF / Go build-info input. The message says what and where. */
export class ElfFormatError extends Error {
  override name = 'ElfFormatError';
}
