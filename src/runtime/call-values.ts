import type { Prototype, ValueKind } from './prototype.js';

const DECIMAL = /^-?(0|[1-9][0-9]{0,19})$/;

/**
 * Check JSON arguments against a prototype and convert them for koffi. 64-bit integers come as
 * numbers (exact only up to 2^53) or decimal strings; out-of-range values are refused here,
 * because koffi turns them into undefined behaviour rather than an error.
 */
export function convertArguments(prototype: Prototype, args: readonly unknown[]): { ok: true; values: unknown[] } | { ok: false; reason: string } {
  if (args.length !== prototype.params.length) {
    return { ok: false, reason: `${prototype.name} takes ${prototype.params.length} argument(s), got ${args.length}` };
  }
  const values: unknown[] = [];
  for (const [i, param] of prototype.params.entries()) {
    const converted = convertOne(param, args[i], `argument ${i + 1} of ${prototype.name}`);
    if (converted instanceof ArgumentProblem) return { ok: false, reason: converted.message };
    values.push(converted);
  }
  return { ok: true, values };
}

class ArgumentProblem {
  constructor(readonly message: string) {}
}

function convertOne(param: ValueKind, value: unknown, where: string): unknown {
  const error = (text: string) => new ArgumentProblem(`${where} (${param.ctype}) ${text}`);
  switch (param.kind) {
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value)) return error('must be an integer');
      if (value < param.min || value > param.max) return error(`must be between ${param.min} and ${param.max}`);
      return value;
    case 'int64': {
      let big: bigint;
      if (typeof value === 'number') {
        if (!Number.isSafeInteger(value)) return error('must be an integer; beyond ±2^53 pass it as a decimal string');
        big = BigInt(value);
      } else if (typeof value === 'string' && DECIMAL.test(value)) {
        big = BigInt(value);
      } else {
        return error('must be an integer or a decimal string');
      }
      if (big < param.min || big > param.max) return error(`must be between ${param.min} and ${param.max}`);
      return typeof value === 'number' ? value : big;
    }
    case 'float':
      if (typeof value !== 'number' || !Number.isFinite(value)) return error('must be a finite number');
      return value;
    case 'bool':
      if (typeof value !== 'boolean') return error('must be true or false');
      return value;
    case 'string':
      if (typeof value !== 'string') return error('must be a string');
      if (value.includes('\0')) return error('must not contain NUL characters');
      return value;
    case 'void':
      return error('cannot be passed');
  }
}

/** A native result as JSON: 64-bit integers beyond 2^53 as decimal strings, never a BigInt. */
export function resultToJson(kind: ValueKind, value: unknown): unknown {
  if (value === undefined || value === null) return null;
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) && BigInt(Number(value)) === value ? Number(value) : value.toString();
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  if (kind.kind === 'void') return null;
  return value;
}
