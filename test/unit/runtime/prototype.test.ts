import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { convertArguments, resultToJson } from '../../../src/runtime/call-values.js';
import { parseManifest } from '../../../src/runtime/manifest.js';
import { parsePrototype, type Prototype } from '../../../src/runtime/prototype.js';

const proto = (text: string): Prototype => {
  const result = parsePrototype(text);
  if (!result.ok) throw new Error(result.reason);
  return result.prototype;
};
const refusal = (text: string) => {
  const result = parsePrototype(text);
  return result.ok ? null : result.reason;
};

describe('prototypes: an allow-list of JSON-safe C types', () => {
  it('accepts scalars and const char *, and renders the canonical prototype koffi gets', () => {
    expect(proto('int Add(int a, int b)').canonical).toBe('int32_t Add(int32_t, int32_t)');
    expect(proto('const char *Greet(const char *who);').canonical).toBe('const char * Greet(const char *)');
    expect(proto('char const * Greet(char const * const who)').canonical).toBe('const char * Greet(const char *)');
    expect(proto('void Reset(void)').params).toEqual([]);
    expect(proto('double Scale(double x, float)').params.map((p) => p.ctype)).toEqual(['double', 'float']);
    expect(proto('unsigned long long int Big(signed long v, size_t n, _Bool b, unsigned u)').canonical).toBe('uint64_t Big(int64_t, uint64_t, bool, uint32_t)');
    expect(proto('short int S(unsigned char c, signed char d, const int e)').canonical).toBe('int16_t S(uint8_t, int8_t, int32_t)');
  });

  it('refuses everything through which a caller could make native code write or jump', () => {
    expect(refusal('int Fill(char *buf, int n)')).toMatch(/non-const char \*/);
    expect(refusal('int Get(int *out)')).toMatch(/pointers/);
    expect(refusal('int Get(const int *in)')).toMatch(/pointers/);
    expect(refusal('void *Alloc(size_t n)')).toMatch(/pointers/);
    expect(refusal('char *Dup(const char *s)')).toMatch(/non-const/);
    expect(refusal('int Use(struct s *p)')).toMatch(/struct/);
    expect(refusal('int Use(struct s p)')).toMatch(/struct/);
    expect(refusal('int Many(const char **list)')).toMatch(/pointers to pointers/);
    expect(refusal('int Cb(int (*f)(int))')).not.toBeNull();
    expect(refusal('int Arr(int a[4])')).not.toBeNull();
    expect(refusal('int V(const char *fmt, ...)')).not.toBeNull();
    expect(refusal('int T(mytype_t x)')).toMatch(/only integer/);
    expect(refusal('int T(void x)')).not.toBeNull();
    expect(refusal('not a prototype')).not.toBeNull();
    expect(refusal('int (void)')).not.toBeNull();
  });

  it('fuzz: never throws; whatever it accepts renders to a prototype it accepts again, with only allowed types', () => {
    const words = ['int', 'char', 'const', 'unsigned', 'long', 'short', 'void', 'double', 'float', 'bool', 'struct', 'size_t', 'x', 'F', '*', '(', ')', ',', ';', '...', '[', ']', 'int64_t', 'volatile', 'signed'];
    const arb = fc.oneof(fc.string({ maxLength: 80 }), fc.array(fc.constantFrom(...words), { maxLength: 16 }).map((w) => w.join(' ')));
    const allowed = new Set(['char', 'int8_t', 'uint8_t', 'int16_t', 'uint16_t', 'int32_t', 'uint32_t', 'int64_t', 'uint64_t', 'bool', 'float', 'double', 'const char *']);
    fc.assert(
      fc.property(arb, (text) => {
        const result = parsePrototype(text);
        if (!result.ok) return;
        const again = parsePrototype(result.prototype.canonical);
        expect(again.ok).toBe(true);
        if (again.ok) expect(again.prototype.canonical).toBe(result.prototype.canonical);
        for (const p of result.prototype.params) expect(allowed.has(p.ctype)).toBe(true);
        expect(allowed.has(result.prototype.returns.ctype) || result.prototype.returns.ctype === 'void').toBe(true);
      }),
      { numRuns: 5000 },
    );
  });
});

describe('call values', () => {
  it('range-checks integers, accepts 64-bit values as decimal strings, and never yields a BigInt for JSON', () => {
    const p = proto('int64_t F(uint8_t a, int64_t b, uint64_t c, bool d, double e)');
    expect(convertArguments(p, [255, -5, '18446744073709551615', true, 1.5])).toEqual({ ok: true, values: [255, -5, 18446744073709551615n, true, 1.5] });
    expect(convertArguments(p, [256, 0, 0, true, 1])).toMatchObject({ ok: false });
    expect(convertArguments(p, [0, '-9223372036854775809', 0, true, 1])).toMatchObject({ ok: false });
    expect(convertArguments(p, [0, 0, '-1', true, 1])).toMatchObject({ ok: false });
    expect(convertArguments(p, [0, 0, '01', true, 1])).toMatchObject({ ok: false });
    expect(convertArguments(p, [0, 0, 0, 1, 1])).toMatchObject({ ok: false });
    expect(convertArguments(p, [0, 0, 0, true, Number.NaN])).toMatchObject({ ok: false });
    expect(convertArguments(p, [0, 0, 0, true])).toMatchObject({ ok: false });
    expect(resultToJson(p.returns, 2n ** 63n - 1n)).toBe('9223372036854775807');
    expect(resultToJson(p.returns, 42n)).toBe(42);
    expect(resultToJson(p.returns, Number.POSITIVE_INFINITY)).toBe('Infinity');
    expect(resultToJson(proto('void F(void)').returns, undefined)).toBeNull();
  });

  it('fuzz: any JSON arguments are either refused with a reason or converted to in-range values', () => {
    const p = proto('int32_t F(int32_t a, uint64_t b, const char *s)');
    fc.assert(
      fc.property(fc.array(fc.jsonValue(), { maxLength: 4 }), (args) => {
        const result = convertArguments(p, args);
        if (!result.ok) {
          expect(typeof result.reason).toBe('string');
          return;
        }
        const [a, b, s] = result.values;
        expect(Number.isInteger(a) && (a as number) >= -(2 ** 31) && (a as number) < 2 ** 31).toBe(true);
        expect(BigInt(b as number | bigint) >= 0n && BigInt(b as number | bigint) < 2n ** 64n).toBe(true);
        expect(typeof s === 'string' && !s.includes('\0')).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('manifests', () => {
  it('validates manifests; function names are Map keys, never object properties', () => {
    const ok = JSON.stringify({ name: 'g', version: '1', functions: { Add: 'int Add(int a, int b)', constructor: 'int constructor(void)' } });
    const manifest = parseManifest(ok, 'g');
    expect(manifest.functions.get('Add')?.name).toBe('Add');
    expect(manifest.functions.has('toString')).toBe(false);
    expect(() => parseManifest(null, 'g')).toThrow(/NULL/);
    expect(() => parseManifest('{', 'g')).toThrow(/invalid JSON/);
    expect(() => parseManifest(ok, 'other')).toThrow(/calls itself "g" but the lockfile lists it as "other"/);
    expect(() => parseManifest(JSON.stringify({ name: 'g', version: '1', functions: { Add: 'int Sub(int a)' } }), 'g')).toThrow(/declares "Sub"/);
    expect(() => parseManifest(JSON.stringify({ name: 'g', version: '1', functions: {} }), 'g')).toThrow(/empty/);
    expect(() => parseManifest(JSON.stringify({ name: 'g', version: '1', functions: { Fill: 'int Fill(char *b, int n)' } }), 'g')).toThrow(/non-const char/);
    expect(() => parseManifest(JSON.stringify({ name: 'g', version: '1', functions: { 'a b': 'int x(void)' } }), 'g')).toThrow(/not a C function name/);
  });
});
