import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from './package-root.js';
import type { LockGenerator } from './lock/lockfile.js';

let cached: string | null = null;

/** This tool's version, from its package.json (the same file from src/ and dist/). */
export function toolVersion(): string {
  cached ??= (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  return cached;
}

/** What a lockfile records as its writer (kept out of every hash and comparison). */
export function lockGenerator(): LockGenerator {
  return { tool: `plugin-builder ${toolVersion()}`, node: process.version };
}
