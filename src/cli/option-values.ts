import { BuilderError } from '../errors.js';

/** Commander's accumulator for a repeatable option (`--trust-key A --trust-key B`). */
export const collectValues = (value: string, previous: string[]): string[] => [...previous, value];

/** A number option above 0 and at most `max`, or BAD_OPTION naming the flag. */
export function positiveNumber(value: string, flag: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > max) throw new BuilderError('BAD_OPTION', `${flag} must be a positive number, got "${value}"`);
  return n;
}

/** A whole-number option above 0 (a count, a size in bytes). */
export function positiveInteger(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n <= 0) throw new BuilderError('BAD_OPTION', `${flag} must be a positive integer, got "${value}"`);
  return n;
}

/** A time limit given in seconds (above 0, at most `max`), in milliseconds. */
export function secondsOption(value: string, flag: string, max = 86_400): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > max) throw new BuilderError('BAD_OPTION', `${flag} must be a positive number of seconds, at most ${max}, got "${value}"`);
  return n * 1000;
}
