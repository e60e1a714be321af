import { Agent as HttpsAgent } from 'node:https';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import type Docker from 'dockerode';
import type { ConfigFiles, EngineEndpoint } from './docker-host.js';
import { checkHostKey, type HostKeyVerdict, knownHostsName } from './known-hosts.js';

type Env = Readonly<Record<string, string | undefined>>;

/** What an ssh connection was refused for on our side, kept for the error message. */
export interface SshRefusal {
  hostKey: HostKeyVerdict | null;
  identity: string | null;
}

const IDENTITY_FILES = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

/**
 * dockerode's options for an endpoint: the modem does the talking (unix socket, http, https, and
 * ssh through ssh2 running `docker system dial-stdio` on the remote, as the docker CLI does). What
 * we add is what the CLI gets from OpenSSH and Go's TLS and the modem does not do by itself:
 * verifying the engine's TLS certificate as asked, and an ssh host key checked against
 * known_hosts (ssh2 alone accepts any), with the identity taken from ssh-agent or ~/.ssh/id_*.
 */
export function dockerodeOptions(endpoint: EngineEndpoint, env: Env, files: ConfigFiles, refusal: SshRefusal = { hostKey: null, identity: null }): Docker.DockerOptions {
  const c = endpoint.connection;
  if (c.kind === 'socket') return { socketPath: c.socketPath };
  if (c.kind === 'tcp') {
    if (!c.tls) return { host: c.host, port: c.port, protocol: 'http' };
    const agent = new HttpsAgent({
      ...(c.tls.ca ? { ca: c.tls.ca } : {}),
      ...(c.tls.cert ? { cert: c.tls.cert } : {}),
      ...(c.tls.key ? { key: c.tls.key } : {}),
      rejectUnauthorized: c.tls.verify,
    });
    return { host: c.host, port: c.port, protocol: 'https', agent } as Docker.DockerOptions;
  }
  const home = env.HOME ?? '';
  const knownHosts = [home ? join(home, '.ssh', 'known_hosts') : null, '/etc/ssh/ssh_known_hosts']
    .filter((p): p is string => p !== null)
    .map((p) => files.read(p)?.toString('utf8') ?? '')
    .join('\n');
  let privateKey: Buffer | undefined;
  for (const name of home ? IDENTITY_FILES : []) {
    const key = files.read(join(home, '.ssh', name));
    // A passphrase-protected key cannot be used without a prompt; ssh-agent holds it unlocked.
    if (key && !isEncryptedKey(key)) {
      privateKey = key;
      refusal.identity = join(home, '.ssh', name);
      break;
    }
  }
  const sshOptions = {
    ...(env.SSH_AUTH_SOCK ? { agent: env.SSH_AUTH_SOCK } : {}),
    ...(privateKey ? { privateKey } : {}),
    readyTimeout: 20_000,
    hostVerifier: (key: Buffer) => {
      const verdict = checkHostKey(knownHosts, c.host, c.port, key);
      refusal.hostKey = verdict;
      return verdict.ok;
    },
  };
  return { protocol: 'ssh', host: c.host, port: c.port, username: c.username ?? env.USER ?? env.LOGNAME ?? userInfo().username, sshOptions } as Docker.DockerOptions;
}

/** OpenSSH's new format says so in its header (cipher name); PEM says `ENCRYPTED`. */
function isEncryptedKey(key: Buffer): boolean {
  const text = key.toString('utf8');
  if (/ENCRYPTED/.test(text)) return true;
  const body = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END/.exec(text)?.[1];
  if (!body) return false;
  const raw = Buffer.from(body.replace(/\s+/g, ''), 'base64');
  // "openssh-key-v1\0", then a string: the cipher name ("none" when not encrypted).
  const offset = 15;
  if (raw.length < offset + 4) return false;
  const length = raw.readUInt32BE(offset);
  return raw.subarray(offset + 4, offset + 4 + length).toString('latin1') !== 'none';
}

/** The remedy that fits how the engine was reached, for DOCKER_UNAVAILABLE. */
export function unavailableFix(endpoint: EngineEndpoint, refusal: SshRefusal, causeCode?: string): string {
  const c = endpoint.connection;
  const from = endpoint.source.startsWith('docker context') ? ` (${endpoint.source}; see \`docker context inspect\`, or \`docker context use default\`)` : '';
  if (c.kind === 'socket' && (causeCode === 'EACCES' || causeCode === 'EPERM')) {
    return `The engine's socket ${c.socketPath} is there but this user may not use it: add the user to the group that owns it (usually \`docker\`: sudo usermod -aG docker "$USER", then log in again), or run as a user who may${from}.`;
  }
  if (c.kind === 'socket') {
    return `Start the Docker engine whose socket is ${c.socketPath}${from}, or name another: DOCKER_HOST=ssh://USER@HOST, DOCKER_HOST=tcp://HOST:2376 with DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH, \`docker context use NAME\`, or --host.`;
  }
  if (c.kind === 'tcp' && !c.tls) {
    return `Check that an engine listens on ${c.host}:${c.port}${from}. An engine reached over a network should not be plain tcp (anyone who reaches the port owns the machine): use ssh://USER@HOST, or TLS (tcp://HOST:2376 with DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH holding ca.pem, cert.pem, key.pem).`;
  }
  if (c.kind === 'tcp') {
    return `Check that an engine listens with TLS on ${c.host}:${c.port}${from} and that ca.pem, cert.pem and key.pem (DOCKER_CERT_PATH, or the context's TLS files) are the ones it trusts and serves: \`docker --tlsverify -H tcp://${c.host}:${c.port} version\` must work.`;
  }
  const target = `${c.username ? `${c.username}@` : ''}${c.host}`;
  if (refusal.hostKey && !refusal.hostKey.ok) {
    const name = knownHostsName(c.host, c.port);
    if (refusal.hostKey.reason === 'unknown') return `The host key of ${name} is not in ~/.ssh/known_hosts${from}: connect once with \`ssh -p ${c.port} ${target}\` and check the fingerprint it shows, or add it with \`ssh-keyscan -p ${c.port} ${c.host} >> ~/.ssh/known_hosts\` after checking it out of band.`;
    return `The host key ${name} presented is ${refusal.hostKey.reason === 'revoked' ? 'marked @revoked' : `not the one ~/.ssh/known_hosts holds for it (${refusal.hostKey.knownTypes.join(', ')})`}${from}: this may be someone in the middle. If the host really changed its key, remove the old line with \`ssh-keygen -R '${name}'\` and check the new one.`;
  }
  return `\`ssh -p ${c.port} ${target} docker version\` must work without a prompt${from}: a key in ssh-agent (SSH_AUTH_SOCK) or an unencrypted ~/.ssh/id_ed25519, id_ecdsa or id_rsa${refusal.identity ? ` (tried ${refusal.identity})` : ' (none found)'} authorized on the host, and the docker CLI on the remote's PATH (it runs \`docker system dial-stdio\`).`;
}
