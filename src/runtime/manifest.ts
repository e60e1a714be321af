import { BadManifestError } from '../errors.js';
import { type Prototype, parsePrototype } from './prototype.js';

/** The registration ABI: `const char *builder_plugin_manifest(void)` returns this as JSON. */
export const MANIFEST_SYMBOL = 'builder_plugin_manifest';
export const MANIFEST_PROTOTYPE = `const char *${MANIFEST_SYMBOL}(void)`;
const MAX_MANIFEST_CHARS = 256 * 1024;
const MAX_FUNCTIONS = 1024;
const FUNCTION_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

export interface PluginManifest {
  name: string;
  version: string;
  /** Function name → its checked prototype (a Map: names come from the plugin). */
  functions: Map<string, Prototype>;
}

/** Validate a manifest's JSON text for the plugin the lockfile calls `expectedName`. */
export function parseManifest(text: unknown, expectedName: string): PluginManifest {
  const fail = (reason: string): never => {
    throw new BadManifestError(expectedName, reason);
  };
  if (typeof text !== 'string') return fail(`${MANIFEST_SYMBOL}() returned ${text === null ? 'NULL' : typeof text}`);
  if (text.length > MAX_MANIFEST_CHARS) return fail(`the manifest is longer than ${MAX_MANIFEST_CHARS} characters`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return fail(`${MANIFEST_SYMBOL}() returned invalid JSON (${(err as Error).message})`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return fail('the manifest is not a JSON object');
  const record = raw as Record<string, unknown>;
  const own = (key: string) => (Object.hasOwn(record, key) ? record[key] : undefined);
  const name = own('name');
  const version = own('version');
  const functions = own('functions');
  if (typeof name !== 'string' || name === '') return fail('"name" must be a non-empty string');
  if (name !== expectedName) return fail(`it calls itself "${name.slice(0, 80)}" but the lockfile lists it as "${expectedName}"`);
  if (typeof version !== 'string' || version === '' || version.length > 128) return fail('"version" must be a non-empty string of at most 128 characters');
  if (functions === null || typeof functions !== 'object' || Array.isArray(functions)) return fail('"functions" must be an object');
  const entries = Object.entries(functions as Record<string, unknown>);
  if (entries.length === 0) return fail('"functions" is empty');
  if (entries.length > MAX_FUNCTIONS) return fail(`more than ${MAX_FUNCTIONS} functions`);
  const out = new Map<string, Prototype>();
  for (const [fn, declared] of entries) {
    if (!FUNCTION_NAME.test(fn)) return fail(`"${fn.slice(0, 80)}" is not a C function name`);
    if (typeof declared !== 'string') return fail(`functions.${fn} must be a prototype string`);
    const parsed = parsePrototype(declared);
    if (!parsed.ok) return fail(`functions.${fn}: ${parsed.reason}`);
    if (parsed.prototype.name !== fn) return fail(`functions.${fn}: the prototype declares "${parsed.prototype.name}"`);
    out.set(fn, parsed.prototype);
  }
  return { name, version, functions: out };
}
