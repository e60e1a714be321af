/**
 * The C prototypes a plugin manifest may declare, on an allow-list: integer, floating and bool
 * scalars and `const char *`, in and out. Anything through which a caller could make native code
 * write (non-const pointers, out-parameters, structs, arrays, callbacks, varargs) is refused: the
 * host cannot know how large a buffer the function expects, and JSON cannot say it either.
 *
 * The prototype handed to koffi is re-rendered from the parse (`Prototype.canonical`), so koffi
 * binds exactly the types that were checked, never a text the two parsers read differently.
 */
export type ValueKind =
  | { kind: 'int'; ctype: string; min: number; max: number }
  | { kind: 'int64'; ctype: string; min: bigint; max: bigint }
  | { kind: 'float'; ctype: string }
  | { kind: 'bool'; ctype: string }
  | { kind: 'string'; ctype: string }
  | { kind: 'void'; ctype: string };

export interface Prototype {
  name: string;
  returns: ValueKind;
  params: ValueKind[];
  /** The prototype koffi is given: canonical types, no parameter names. */
  canonical: string;
}

export type PrototypeResult = { ok: true; prototype: Prototype } | { ok: false; reason: string };

const int = (ctype: string, bits: number, signed: boolean): ValueKind =>
  bits === 64
    ? { kind: 'int64', ctype, min: signed ? -(2n ** 63n) : 0n, max: signed ? 2n ** 63n - 1n : 2n ** 64n - 1n }
    : { kind: 'int', ctype, min: signed ? -(2 ** (bits - 1)) : 0, max: signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1 };

// The runtime runs on 64-bit Linux (x86_64, aarch64): LP64, so long and size_t are 64 bits.
const SCALARS = new Map<string, ValueKind>([
  ['char', int('char', 8, true)],
  ['signed char', int('int8_t', 8, true)],
  ['unsigned char', int('uint8_t', 8, false)],
  ['short', int('int16_t', 16, true)],
  ['unsigned short', int('uint16_t', 16, false)],
  ['int', int('int32_t', 32, true)],
  ['unsigned int', int('uint32_t', 32, false)],
  ['long', int('int64_t', 64, true)],
  ['unsigned long', int('uint64_t', 64, false)],
  ['long long', int('int64_t', 64, true)],
  ['unsigned long long', int('uint64_t', 64, false)],
  ['int8_t', int('int8_t', 8, true)],
  ['uint8_t', int('uint8_t', 8, false)],
  ['int16_t', int('int16_t', 16, true)],
  ['uint16_t', int('uint16_t', 16, false)],
  ['int32_t', int('int32_t', 32, true)],
  ['uint32_t', int('uint32_t', 32, false)],
  ['int64_t', int('int64_t', 64, true)],
  ['uint64_t', int('uint64_t', 64, false)],
  ['size_t', int('uint64_t', 64, false)],
  ['ssize_t', int('int64_t', 64, true)],
  ['bool', { kind: 'bool', ctype: 'bool' }],
  ['_Bool', { kind: 'bool', ctype: 'bool' }],
  ['float', { kind: 'float', ctype: 'float' }],
  ['double', { kind: 'float', ctype: 'double' }],
]);
const QUALIFIERS = new Set(['const', 'volatile']);
const TYPE_WORDS = new Set(['signed', 'unsigned', 'short', 'long', 'int', 'char', 'void', 'float', 'double', 'bool', '_Bool', 'struct', 'union', 'enum', ...SCALARS.keys()]);
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `unsigned long int` → `unsigned long`, `signed` → `int`, `short int` → `short`. */
function normaliseWords(words: string[]): string {
  let list = [...words];
  const signed = list.includes('signed');
  list = list.filter((w) => w !== 'signed');
  if (list.length > 1 && list[list.length - 1] === 'int' && (list.includes('short') || list.includes('long'))) list.pop();
  if (list.length === 0 || (list.length === 1 && list[0] === 'unsigned')) list.push('int');
  const text = list.join(' ');
  if (signed && text === 'char') return 'signed char';
  return text;
}

/** One parameter or return type: its tokens without a parameter name. */
function typeOf(tokens: string[], where: string, isReturn: boolean): ValueKind | string {
  const star = tokens.indexOf('*');
  const base = star === -1 ? tokens : tokens.slice(0, star);
  const after = star === -1 ? [] : tokens.slice(star + 1);
  const text = tokens.join(' ').replace(/ \*/g, ' *');
  if (after.includes('*')) return `${where} has type "${text}": pointers to pointers cannot be passed`;
  if (after.some((t) => !QUALIFIERS.has(t))) return `${where} has type "${text}", which is not a plain C type`;
  const isConst = base.includes('const');
  const words = base.filter((w) => !QUALIFIERS.has(w));
  if (words.some((w) => !TYPE_WORDS.has(w))) return `${where} has type "${text}": only integer, float, bool and const char * types are allowed`;
  if (words.includes('struct') || words.includes('union') || words.includes('enum')) return `${where} has type "${text}": structs, unions and enums cannot be passed as JSON`;
  const normal = normaliseWords(words);
  if (star !== -1) {
    if (normal === 'char' && isConst) return { kind: 'string', ctype: 'const char *' };
    if (normal === 'char') return `${where} has type "${text}": a non-const char * lets the function write into a buffer the caller cannot size; declare it const char * or return the text`;
    return `${where} has type "${text}": pointers (out-parameters, buffers) cannot be passed as JSON`;
  }
  if (normal === 'void') return isReturn ? { kind: 'void', ctype: 'void' } : `${where} has type void`;
  const scalar = SCALARS.get(normal);
  return scalar ?? `${where} has type "${text}", which is not a known C scalar type`;
}

/** Split a prototype into identifiers and punctuation; null on any other character. */
function tokenize(text: string): string[] | null {
  const tokens: string[] = [];
  const re = /\s*(?:([A-Za-z_][A-Za-z0-9_]*)|([*(),;]))/y;
  let index = 0;
  while (index < text.length) {
    if (/^\s*$/.test(text.slice(index))) break;
    re.lastIndex = index;
    const m = re.exec(text);
    if (!m) return null;
    tokens.push((m[1] ?? m[2]) as string);
    index = re.lastIndex;
  }
  return tokens;
}

/** Parse one declared function; the reason says which type was refused and why. */
export function parsePrototype(text: string): PrototypeResult {
  const fail = (reason: string): PrototypeResult => ({ ok: false, reason });
  if (text.length > 512) return fail('the prototype is longer than 512 characters');
  const tokens = tokenize(text);
  if (!tokens) return fail(`"${text}" is not a C prototype (arrays, callbacks and other syntax are not allowed)`);
  if (tokens[tokens.length - 1] === ';') tokens.pop();
  const open = tokens.indexOf('(');
  if (open < 2 || tokens[tokens.length - 1] !== ')' || tokens.indexOf('(', open + 1) !== -1 || tokens.indexOf(')') !== tokens.length - 1) {
    return fail(`"${text}" is not a C prototype of the form "type Name(type a, …)"`);
  }
  const name = tokens[open - 1] as string;
  if (!IDENT.test(name) || TYPE_WORDS.has(name) || QUALIFIERS.has(name)) return fail(`"${text}" does not name its function`);
  const returns = typeOf(tokens.slice(0, open - 1), `the return value of ${name}`, true);
  if (typeof returns === 'string') return fail(returns);
  const inner = tokens.slice(open + 1, -1);
  const groups: string[][] = inner.length === 0 ? [] : [[]];
  for (const t of inner) {
    if (t === ',') groups.push([]);
    else (groups[groups.length - 1] as string[]).push(t);
  }
  if (groups.length === 1 && groups[0]?.length === 1 && groups[0][0] === 'void') groups.pop();
  const params: ValueKind[] = [];
  for (const [i, group] of groups.entries()) {
    const last = group[group.length - 1];
    // A trailing identifier that is not a type word is the parameter's name.
    const typeTokens = group.length > 1 && last !== undefined && IDENT.test(last) && !TYPE_WORDS.has(last) && !QUALIFIERS.has(last) ? group.slice(0, -1) : group;
    if (typeTokens.length === 0) return fail(`parameter ${i + 1} of ${name} has no type`);
    const kind = typeOf(typeTokens, `parameter ${i + 1} of ${name}`, false);
    if (typeof kind === 'string') return fail(kind);
    params.push(kind);
  }
  if (params.length > 32) return fail(`${name} takes more than 32 parameters`);
  const canonical = `${returns.ctype} ${name}(${params.map((p) => p.ctype).join(', ')})`;
  return { ok: true, prototype: { name, returns, params, canonical } };
}
