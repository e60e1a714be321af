import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The directory holding package.json, Dockerfile.builder and images/: the same from src/
 * (tests) and dist/ (installed), both one level below it.
 */
export function packageRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..');
}
