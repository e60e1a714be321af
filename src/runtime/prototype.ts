/** What a JSON caller may pass for a C type. */
export type ValueKind =
  | { kind: 'int'; min: number; max: number }
  | { kind: 'float' }
  | { kind: 'bool' }
  | { kind: 'string' }
  | { kind: 'void' }
  | { kind: 'unsupported'; type: string };

export interface Prototype {
  name: string;
  returns: ValueKind;
  params: ValueKind[];
}

const INT_RANGES: Record<string, [number, number]> = {
  int8_t: [-128, 127], uint8_t: [0, 255], int16_t: [-32768, 32767], uint16_t: [0, 65535],
  int32_t: [-(2 ** 31), 2 ** 31 - 1], uint32_t: [0, 2 ** 32 - 1],
  // 64-bit values are limited to what a JSON number carries exactly.
  int64_t: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER], uint64_t: [0, Number.MAX_SAFE_INTEGER],
  size_t: [0, Number.MAX_SAFE_INTEGER],
  char: [-128, 127], 'signed char': [-128, 127], 'unsigned char': [0, 255],
  short: [-32768, 32767], 'unsigned short': [0, 65535],
  int: [-(2 ** 31), 2 ** 31 - 1], 'signed int': [-(2 ** 31), 2 ** 31 - 1], signed: [-(2 ** 31), 2 ** 31 - 1],
  unsigned: [0, 2 ** 32 - 1], 'unsigned int': [0, 2 ** 32 - 1],
  long: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER], 'unsigned long': [0, Number.MAX_SAFE_INTEGER],
  'long long': [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER], 'unsigned long long': [0, Number.MAX_SAFE_INTEGER],
};
const TYPE_WORDS = new Set(['const', 'volatile', 'unsigned', 'signed', 'long', 'short', 'int', 'char', 'void', 'float', 'double', 'bool', '_Bool', 'struct']);

function kindOf(rawType: string): ValueKind {
  const type = rawType.replace(/\bconst\b|\bvolatile\b/g, ' ').replace(/\s*\*\s*/g, '*').replace(/\s+/g, ' ').trim();
  if (type === 'char*') return { kind: 'string' };
  if (type === 'void') return { kind: 'void' };
  if (type === 'float' || type === 'double') return { kind: 'float' };
  if (type === 'bool' || type === '_Bool') return { kind: 'bool' };
  const range = INT_RANGES[type];
  if (range) return { kind: 'int', min: range[0], max: range[1] };
  return { kind: 'unsupported', type: rawType.trim() };
}

/** Drop a parameter's name: `const char *who` → `const char *`. */
function paramType(param: string): string {
  const tokens = param.replace(/\*/g, ' * ').trim().split(/\s+/);
  const last = tokens[tokens.length - 1] ?? '';
  if (tokens.length > 1 && /^[A-Za-z_]\w*$/.test(last) && !TYPE_WORDS.has(last) && !(last in INT_RANGES)) tokens.pop();
  return tokens.join(' ');
}

/** Parse a koffi-style C prototype; null when it is not one. */
export function parsePrototype(prototype: string): Prototype | null {
  const match = /^\s*([A-Za-z_][\w\s*]*?)\s*\b([A-Za-z_]\w*)\s*\(([^()]*)\)\s*;?\s*$/.exec(prototype);
  if (!match) return null;
  const [, returnType, name, paramList] = match as unknown as [string, string, string, string];
  const params = paramList.trim();
  const list = params === '' || params === 'void' ? [] : params.split(',').map(paramType);
  if (list.some((p) => p === '')) return null;
  return { name, returns: kindOf(returnType), params: list.map(kindOf) };
}

/** Check JSON arguments against a prototype; returns a reason, or null when they fit. */
export function checkArguments(prototype: Prototype, args: readonly unknown[]): string | null {
  if (args.length !== prototype.params.length) {
    return `${prototype.name} takes ${prototype.params.length} argument(s), got ${args.length}`;
  }
  for (const [i, param] of prototype.params.entries()) {
    const value = args[i];
    const where = `argument ${i + 1} of ${prototype.name}`;
    switch (param.kind) {
      case 'int':
        if (typeof value !== 'number' || !Number.isInteger(value)) return `${where} must be an integer`;
        if (value < param.min || value > param.max) return `${where} must be between ${param.min} and ${param.max}`;
        break;
      case 'float':
        if (typeof value !== 'number' || !Number.isFinite(value)) return `${where} must be a number`;
        break;
      case 'bool':
        if (typeof value !== 'boolean') return `${where} must be true or false`;
        break;
      case 'string':
        if (typeof value !== 'string') return `${where} must be a string`;
        if (value.includes('\0')) return `${where} must not contain NUL characters`;
        break;
      case 'void':
      case 'unsupported':
        return `${where} has type ${param.kind === 'unsupported' ? param.type : 'void'}, which cannot be passed as JSON`;
    }
  }
  return null;
}
