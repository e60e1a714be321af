import { ElfFormatError } from './elf-error.js';

export interface GoModule {
  path: string;
  version: string;
  sum?: string;
  replace?: GoModule;
}

export interface GoBuildInfo {
  goVersion: string;
  path: string | null;
  main: GoModule | null;
  deps: GoModule[];
  settings: Record<string, string>;
}

const MAGIC = '\xff Go buildinf:';
const FLAG_INLINE_STRINGS = 2;

function uvarint(bytes: Uint8Array, offset: number): { value: number; next: number } {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    const byte = bytes[offset + i];
    if (byte === undefined) throw new ElfFormatError(`truncated varint at offset ${offset} of .go.buildinfo`);
    value += (byte & 0x7f) * scale;
    if (!Number.isSafeInteger(value)) throw new ElfFormatError(`varint at offset ${offset} of .go.buildinfo is too large`);
    if ((byte & 0x80) === 0) return { value, next: offset + i + 1 };
    scale *= 128;
  }
  throw new ElfFormatError(`varint at offset ${offset} of .go.buildinfo is longer than 10 bytes`);
}

function inlineBytes(bytes: Uint8Array, offset: number, what: string): { data: Uint8Array; next: number } {
  const { value, next } = uvarint(bytes, offset);
  if (next + value > bytes.length) throw new ElfFormatError(`${what} (${value} bytes at offset ${next}) runs past the end of .go.buildinfo`);
  return { data: bytes.subarray(next, next + value), next: next + value };
}

const utf8 = (data: Uint8Array) => Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8');

/** Parse the `.go.buildinfo` section (Go ≥ 1.18 inline format), as debug/buildinfo does. */
export function parseGoBuildInfo(section: Uint8Array): GoBuildInfo {
  if (section.length < 32 || Buffer.from(section.subarray(0, 14)).toString('latin1') !== MAGIC) {
    throw new ElfFormatError('.go.buildinfo does not start with the Go build-info magic');
  }
  const flags = section[15] as number;
  if ((flags & FLAG_INLINE_STRINGS) === 0) throw new ElfFormatError('unsupported Go build info format (Go < 1.18)');
  const version = inlineBytes(section, 32, 'the Go version');
  const mod = inlineBytes(section, version.next, 'the module info').data;
  // The module info is framed by 16-byte binary sentinels: cut them as bytes, then decode.
  const text = mod.length >= 33 && mod[mod.length - 17] === 0x0a ? utf8(mod.subarray(16, mod.length - 16)) : '';
  return { goVersion: utf8(version.data), ...parseModInfo(text) };
}

function unquote(value: string): string {
  if (!value.startsWith('"')) return value;
  try {
    return JSON.parse(value) as string;
  } catch {
    return value;
  }
}

function moduleFrom(fields: string[]): GoModule {
  const [path = '', version = '', sum] = fields;
  return { path, version, ...(sum ? { sum } : {}) };
}

/** Parse the text of runtime/debug.BuildInfo (path, mod, dep, =>, build lines). */
export function parseModInfo(text: string): Omit<GoBuildInfo, 'goVersion'> {
  const info: Omit<GoBuildInfo, 'goVersion'> = { path: null, main: null, deps: [], settings: {} };
  let last: GoModule | null = null;
  for (const line of text.split('\n')) {
    const [kind, ...fields] = line.split('\t');
    switch (kind) {
      case 'path':
        info.path = fields[0] ?? null;
        break;
      case 'mod':
        info.main = last = moduleFrom(fields);
        break;
      case 'dep':
        last = moduleFrom(fields);
        info.deps.push(last);
        break;
      case '=>':
        if (last) last.replace = moduleFrom(fields);
        break;
      case 'build': {
        const setting = fields.join('\t');
        const eq = setting.startsWith('"') ? setting.indexOf('=', setting.indexOf('"', 1) + 1) : setting.indexOf('=');
        if (eq > 0) info.settings[unquote(setting.slice(0, eq))] = unquote(setting.slice(eq + 1));
        break;
      }
    }
  }
  return info;
}
