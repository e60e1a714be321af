import { BadManifestError } from '../errors.js';
import { type Prototype, parsePrototype } from './prototype.js';

/** The registration ABI: `const char *builder_plugin_manifest(void)` returns this as JSON. */
export const MANIFEST_SYMBOL = 'builder_plugin_manifest';
export const MANIFEST_PROTOTYPE = `const char *${MANIFEST_SYMBOL}(void)`;

export interface PluginManifest {
  name: string;
  version: string;
  functions: Record<string, { prototype: string; parsed: Prototype }>;
}

/** Validate a manifest's JSON text for the plugin the lockfile calls `expectedName`. */
export function parseManifest(text: unknown, expectedName: string): PluginManifest {
  const fail = (reason: string): never => {
    throw new BadManifestError(expectedName, reason);
  };
  if (typeof text !== 'string') return fail(`${MANIFEST_SYMBOL}() returned ${text === null ? 'NULL' : typeof text}`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return fail(`${MANIFEST_SYMBOL}() returned invalid JSON (${(err as Error).message})`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return fail('the manifest is not a JSON object');
  const { name, version, functions } = raw as Record<string, unknown>;
  if (typeof name !== 'string' || name === '') return fail('"name" must be a non-empty string');
  if (name !== expectedName) return fail(`it calls itself "${name}" but the lockfile lists it as "${expectedName}"`);
  if (typeof version !== 'string' || version === '') return fail('"version" must be a non-empty string');
  if (functions === null || typeof functions !== 'object' || Array.isArray(functions)) return fail('"functions" must be an object');
  const out: PluginManifest['functions'] = {};
  for (const [fn, prototype] of Object.entries(functions as Record<string, unknown>)) {
    if (typeof prototype !== 'string') return fail(`functions.${fn} must be a prototype string`);
    const parsed = parsePrototype(prototype);
    if (!parsed) return fail(`functions.${fn}: "${prototype}" is not a C prototype`);
    if (parsed.name !== fn) return fail(`functions.${fn}: the prototype declares "${parsed.name}"`);
    out[fn] = { prototype, parsed };
  }
  if (Object.keys(out).length === 0) return fail('"functions" is empty');
  return { name, version, functions: out };
}
