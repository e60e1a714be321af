import { spawn } from 'node:child_process';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { readSmallFile, UnsafeFileError } from '../util/safe-file.js';
import { RegistryError } from './registry-error.js';

export interface Credentials {
  username: string;
  password: string;
}

/** Where credentials for a registry come from; null: none (anonymous). */
export type CredentialSource = (registry: string) => Promise<Credentials | null>;

const MAX_CONFIG_BYTES = 1024 * 1024;
const HELPER_TIMEOUT_MS = 10_000;
const MAX_HELPER_OUTPUT = 64 * 1024;
const HELPER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** The names a registry may have in `auths` (the docker CLI writes Docker Hub's as its v1 URL). */
function authKeys(registry: string): string[] {
  const hub = registry === 'docker.io' || registry === 'index.docker.io' || registry === 'registry-1.docker.io';
  return hub ? ['https://index.docker.io/v1/', 'index.docker.io', 'docker.io', 'registry-1.docker.io'] : [registry, `https://${registry}`, `http://${registry}`, `https://${registry}/v1/`, `https://${registry}/v2/`];
}

/**
 * Credentials as the docker CLI keeps them: `$DOCKER_CONFIG/config.json` (else
 * `~/.docker/config.json`), `credHelpers[registry]`, then `credsStore`, then `auths[…].auth`.
 * A helper is `docker-credential-NAME get`, given the registry on stdin, within 10 s.
 */
export function dockerConfigCredentials(env: NodeJS.ProcessEnv = process.env): CredentialSource {
  const file = join(env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker'), 'config.json');
  return async (registry) => {
    let text: Buffer;
    try {
      text = await readSmallFile(file, 'The docker config', MAX_CONFIG_BYTES, { followSymlinks: true });
    } catch (err) {
      if (err instanceof UnsafeFileError && err.code === 'FILE_MISSING') return null;
      throw err;
    }
    let config: Record<string, unknown>;
    try {
      config = JSON.parse(text.toString('utf8')) as Record<string, unknown>;
    } catch {
      throw new RegistryError('REGISTRY_AUTH_FAILED', `${file} is not JSON`, { fix: 'Repair it, or log in again with `docker login`.' });
    }
    const keys = authKeys(registry);
    const helpers = typeof config.credHelpers === 'object' && config.credHelpers !== null ? (config.credHelpers as Record<string, unknown>) : {};
    const helperKey = keys.find((k) => Object.hasOwn(helpers, k) && typeof helpers[k] === 'string');
    const helper = helperKey ? (helpers[helperKey] as string) : typeof config.credsStore === 'string' ? config.credsStore : null;
    if (helper) {
      const fromHelper = await runHelper(helper, keys[0]!, env);
      if (fromHelper) return fromHelper;
    }
    const auths = typeof config.auths === 'object' && config.auths !== null ? (config.auths as Record<string, unknown>) : {};
    for (const key of keys) {
      const entry = Object.hasOwn(auths, key) ? (auths[key] as Record<string, unknown> | null) : null;
      if (!entry || typeof entry !== 'object') continue;
      if (typeof entry.auth === 'string' && entry.auth !== '') {
        const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
      }
      if (typeof entry.username === 'string' && typeof entry.password === 'string') return { username: entry.username, password: entry.password };
    }
    return null;
  };
}

function runHelper(helper: string, server: string, env: NodeJS.ProcessEnv): Promise<Credentials | null> {
  if (!HELPER_NAME.test(helper)) throw new RegistryError('REGISTRY_AUTH_FAILED', `The docker config names a credential helper "${helper.slice(0, 80)}" that is not a plain name`);
  return new Promise((resolve, reject) => {
    const child = spawn(`docker-credential-${helper}`, ['get'], { env, stdio: ['pipe', 'pipe', 'pipe'], timeout: HELPER_TIMEOUT_MS });
    const out: Buffer[] = [];
    let size = 0;
    child.stdout.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_HELPER_OUTPUT) child.kill('SIGKILL');
      else out.push(c);
    });
    child.stderr.resume();
    child.on('error', (err) => reject(new RegistryError('REGISTRY_AUTH_FAILED', `The credential helper docker-credential-${helper} cannot run: ${(err as NodeJS.ErrnoException).code ?? err.message}`, { fix: `Install docker-credential-${helper}, or remove it from the docker config.` })));
    child.on('close', (code, signal) => {
      const text = Buffer.concat(out).toString('utf8');
      // The helper protocol: "credentials not found" on stdout with a non-zero exit means none.
      if (code !== 0) return /credentials not found/i.test(text) ? resolve(null) : reject(new RegistryError('REGISTRY_AUTH_FAILED', `docker-credential-${helper} get failed (${signal ?? `exit ${code}`})`));
      try {
        const answer = JSON.parse(text) as { Username?: unknown; Secret?: unknown };
        if (typeof answer.Username !== 'string' || typeof answer.Secret !== 'string') throw new Error('no Username/Secret');
        resolve({ username: answer.Username, password: answer.Secret });
      } catch {
        reject(new RegistryError('REGISTRY_AUTH_FAILED', `docker-credential-${helper} get answered something that is not {"Username","Secret"}`));
      }
    });
    child.stdin.on('error', () => {});
    child.stdin.end(server);
  });
}
