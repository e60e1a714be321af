import { createHash } from 'node:crypto';
import { join } from 'node:path';

/**
 * Which engine to talk to, found the way the docker CLI finds it (docker/cli
 * cli/command/cli.go resolveContextName, cli/context/store): `--host`, else DOCKER_HOST, else the
 * context DOCKER_CONTEXT names, else the `currentContext` of $DOCKER_CONFIG/config.json
 * (~/.docker), else the default socket. TLS follows DOCKER_TLS_VERIFY / DOCKER_TLS /
 * DOCKER_CERT_PATH for a host given directly, and the context's own TLS files for a context.
 * Pure apart from `files`: every file it reads goes through it.
 */

export interface TlsMaterial {
  /** Check the engine's certificate against `ca` (or the system roots without one). */
  verify: boolean;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

export type DockerConnection =
  | { kind: 'socket'; socketPath: string }
  | { kind: 'tcp'; host: string; port: number; tls: TlsMaterial | null }
  | { kind: 'ssh'; host: string; port: number; username: string | null };

export interface EngineEndpoint {
  /** The engine as a user would write DOCKER_HOST: `unix:///var/run/docker.sock`, `ssh://ci@build:22`. */
  endpoint: string;
  /** Where it came from, for messages: `--host`, `DOCKER_HOST`, `docker context "ci" (DOCKER_CONTEXT)`, `the default socket`. */
  source: string;
  connection: DockerConnection;
}

/** Small files read whole; null when absent. Throws for anything else (a directory, no permission). */
export interface ConfigFiles {
  read(path: string): Buffer | null;
}

export class EngineEndpointError extends Error {}

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';
const DEFAULT_ENDPOINT: EngineEndpoint = { endpoint: `unix://${DEFAULT_DOCKER_SOCKET}`, source: 'the default socket', connection: { kind: 'socket', socketPath: DEFAULT_DOCKER_SOCKET } };

type Env = Readonly<Record<string, string | undefined>>;

/** $DOCKER_CONFIG, else ~/.docker (HOME from the environment, as the CLI reads it). */
export function dockerConfigDir(env: Env): string | null {
  if (env.DOCKER_CONFIG) return env.DOCKER_CONFIG;
  return env.HOME ? join(env.HOME, '.docker') : null;
}

export function resolveEngineEndpoint(env: Env, options: { host?: string }, files: ConfigFiles): EngineEndpoint {
  if (options.host !== undefined) return { ...parseEngineHost(options.host, tlsFromEnv(env, files)), source: '--host' };
  const dockerHost = env.DOCKER_HOST?.trim();
  if (dockerHost) return { ...parseEngineHost(dockerHost, tlsFromEnv(env, files)), source: 'DOCKER_HOST' };
  const configDir = dockerConfigDir(env);
  const fromEnv = env.DOCKER_CONTEXT?.trim();
  const current = fromEnv ? null : currentContext(configDir, files);
  const name = fromEnv || current;
  if (!name || name === 'default') return DEFAULT_ENDPOINT;
  const source = `docker context "${name}" (${fromEnv ? 'DOCKER_CONTEXT' : `currentContext in ${join(configDir ?? '~/.docker', 'config.json')}`})`;
  if (!configDir) throw new EngineEndpointError(`${source}: HOME and DOCKER_CONFIG are unset, so there is no context store to read it from`);
  const context = readContext(configDir, name, files, source);
  // TLS asked for in the environment, and a context that would talk plaintext: the settings would
  // not apply, so the command fails rather than send in the clear what was meant to be encrypted.
  const tlsAsked = (env.DOCKER_TLS_VERIFY ?? '') !== '' ? 'DOCKER_TLS_VERIFY' : (env.DOCKER_TLS ?? '') !== '' ? 'DOCKER_TLS' : null;
  if (tlsAsked && context.connection.kind === 'tcp' && !context.connection.tls) {
    throw new EngineEndpointError(`${tlsAsked} is set, but ${source} reaches ${context.endpoint} without TLS (the context holds no TLS files): the TLS settings would not apply; give the context its TLS files (docker context update --docker "host=…,ca=…,cert=…,key=…"), or unset ${tlsAsked}`);
  }
  return { ...context, source };
}

function currentContext(configDir: string | null, files: ConfigFiles): string | null {
  if (!configDir) return null;
  const path = join(configDir, 'config.json');
  const data = files.read(path);
  if (data === null) return null;
  const config = parseJsonObject(data, path);
  const value = config.currentContext;
  if (value === undefined || value === '') return null;
  if (typeof value !== 'string') throw new EngineEndpointError(`${path}: currentContext is not a string`);
  return value;
}

/** The store keeps each context under the hex sha256 of its name (cli/context/store: contextdirOf). */
export function contextDirName(name: string): string {
  return createHash('sha256').update(name).digest('hex');
}

function readContext(configDir: string, name: string, files: ConfigFiles, source: string): Omit<EngineEndpoint, 'source'> {
  const id = contextDirName(name);
  const metaPath = join(configDir, 'contexts', 'meta', id, 'meta.json');
  const data = files.read(metaPath);
  if (data === null) throw new EngineEndpointError(`${source}: no such context (no ${metaPath}); \`docker context ls\` lists the contexts there are`);
  const meta = parseJsonObject(data, metaPath);
  const docker = (meta.Endpoints as Record<string, unknown> | undefined)?.docker as Record<string, unknown> | undefined;
  if (meta.Name !== name) throw new EngineEndpointError(`${metaPath}: names context ${JSON.stringify(meta.Name)}, not "${name}"`);
  if (!docker || typeof docker.Host !== 'string' || docker.Host === '') throw new EngineEndpointError(`${metaPath}: has no docker endpoint (Endpoints.docker.Host)`);
  const tlsDir = join(configDir, 'contexts', 'tls', id, 'docker');
  const [ca, cert, key] = ['ca.pem', 'cert.pem', 'key.pem'].map((f) => files.read(join(tlsDir, f)));
  const skip = docker.SkipTLSVerify === true;
  const hasTls = ca !== null || cert !== null || key !== null || skip;
  const tls: TlsMaterial | null = hasTls ? { verify: !skip, ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) } : null;
  return parseEngineHost(docker.Host, tls);
}

/** DOCKER_TLS_VERIFY (verify) or DOCKER_TLS (encrypt only), with ca.pem, cert.pem, key.pem from DOCKER_CERT_PATH (~/.docker). */
function tlsFromEnv(env: Env, files: ConfigFiles): TlsMaterial | null {
  const verify = (env.DOCKER_TLS_VERIFY ?? '') !== '';
  if (!verify && (env.DOCKER_TLS ?? '') === '') return null;
  const dir = env.DOCKER_CERT_PATH || dockerConfigDir(env);
  if (!dir) return { verify };
  const [ca, cert, key] = ['ca.pem', 'cert.pem', 'key.pem'].map((f) => files.read(join(dir, f)));
  if ((cert === null) !== (key === null)) throw new EngineEndpointError(`${dir}: has ${cert ? 'cert.pem but no key.pem' : 'key.pem but no cert.pem'}; a client certificate needs both`);
  if (verify && ca === null) throw new EngineEndpointError(`DOCKER_TLS_VERIFY is set but ${join(dir, 'ca.pem')} does not exist: nothing to verify the engine's certificate against (set DOCKER_CERT_PATH to the directory holding ca.pem, cert.pem, key.pem)`);
  return { verify, ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
}

const FORMS = 'unix:///path/to/docker.sock, tcp://HOST:PORT or ssh://[USER@]HOST[:PORT]';

/**
 * One DOCKER_HOST value, as the CLI parses it (docker/cli opts.ParseHost → parseDockerDaemonHost):
 * unix, tcp and ssh; a bare HOST:PORT is tcp. Nothing else: `http://` and `https://` are refused
 * as the CLI refuses them ("invalid bind address format"), since a scheme that decides
 * encryption by itself would let `http://` quietly drop the TLS that DOCKER_TLS_VERIFY asks for.
 */
export function parseEngineHost(value: string, tls: TlsMaterial | null): Omit<EngineEndpoint, 'source'> {
  const raw = value.trim();
  const shown = JSON.stringify(raw.length > 200 ? `${raw.slice(0, 200)}…` : raw);
  if (/[\s\0]/.test(raw) || raw === '') throw new EngineEndpointError(`${shown} is not an engine address: expected ${FORMS}`);
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(raw)?.[1]?.toLowerCase();
  if (scheme === 'unix') {
    const socketPath = raw.slice('unix://'.length) || DEFAULT_DOCKER_SOCKET;
    if (!socketPath.startsWith('/')) throw new EngineEndpointError(`${shown}: a unix socket path must be absolute (unix:///var/run/docker.sock)`);
    return { endpoint: `unix://${socketPath}`, connection: { kind: 'socket', socketPath } };
  }
  if (scheme === 'npipe' || scheme === 'fd') throw new EngineEndpointError(`${shown}: ${scheme}:// engines are not supported here; expected ${FORMS}`);
  // A bare host:port is tcp to the CLI.
  const withScheme = scheme ? raw : `tcp://${raw}`;
  const kind = scheme ?? 'tcp';
  if (kind === 'http' || kind === 'https') {
    throw new EngineEndpointError(`${shown}: ${kind}:// is not an engine address (the docker CLI refuses it too); use tcp://HOST:PORT, with DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH for TLS`);
  }
  if (kind !== 'tcp' && kind !== 'ssh') throw new EngineEndpointError(`${shown}: unknown scheme ${kind}://; expected ${FORMS}`);
  let url: URL;
  try {
    url = new URL(withScheme.replace(/^(tcp|ssh):/i, 'http:'));
  } catch {
    throw new EngineEndpointError(`${shown} is not an engine address: expected ${FORMS}`);
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) throw new EngineEndpointError(`${shown}: an engine address has no path, query or fragment`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
  const explicitPort = /:\d+\/?$/.test(withScheme.replace(/^[^:]+:\/\/[^@]*@/, '//')) ? Number(url.port || '80') : null;
  if (explicitPort === 0) throw new EngineEndpointError(`${shown}: port 0 is not a port an engine listens on`);
  if (kind === 'ssh') {
    if (url.password) throw new EngineEndpointError(`${shown}: a password in the address is not supported; use a key (ssh-agent or ~/.ssh/id_*)`);
    let username: string | null = null;
    try {
      username = url.username ? decodeURIComponent(url.username) : null;
    } catch {
      // (`ssh://%@host`: the URL parser keeps a lone % as it is, and decoding it throws.)
      throw new EngineEndpointError(`${shown}: the user part is not valid percent-encoding`);
    }
    const port = explicitPort ?? 22;
    return { endpoint: `ssh://${username ? `${username}@` : ''}${formatHost(host)}:${port}`, connection: { kind: 'ssh', host, port, username } };
  }
  if (url.username || url.password) throw new EngineEndpointError(`${shown}: a tcp address has no user part`);
  const port = explicitPort ?? (tls ? 2376 : 2375);
  return { endpoint: `tcp://${formatHost(host)}:${port}`, connection: { kind: 'tcp', host, port, tls } };
}

const formatHost = (host: string) => (host.includes(':') ? `[${host}]` : host);

function parseJsonObject(data: Buffer, path: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8'));
  } catch (err) {
    throw new EngineEndpointError(`${path}: not valid JSON (${(err as Error).message})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new EngineEndpointError(`${path}: not a JSON object`);
  return value as Record<string, unknown>;
}
