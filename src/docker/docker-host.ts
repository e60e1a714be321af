/** How to reach the engine, derived from DOCKER_HOST the way the docker CLI does. */
export type DockerConnection =
  | { kind: 'socket'; socketPath: string; endpoint: string }
  | { kind: 'tcp'; host: string; port: number; protocol: 'http' | 'https'; endpoint: string };

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

export function parseDockerHost(env: Readonly<Record<string, string | undefined>>): DockerConnection {
  const value = env.DOCKER_HOST?.trim();
  if (!value) return { kind: 'socket', socketPath: DEFAULT_DOCKER_SOCKET, endpoint: `unix://${DEFAULT_DOCKER_SOCKET}` };
  if (value.startsWith('unix://')) return { kind: 'socket', socketPath: value.slice('unix://'.length), endpoint: value };
  const tcp = /^(tcp|http|https):\/\/\[?([^\]/]+?)\]?(?::(\d+))?\/?$/.exec(value);
  if (tcp) {
    const tls = tcp[1] === 'https' || (env.DOCKER_TLS_VERIFY ?? '') !== '';
    return {
      kind: 'tcp',
      host: tcp[2] as string,
      port: tcp[3] ? Number(tcp[3]) : tls ? 2376 : 2375,
      protocol: tls ? 'https' : 'http',
      endpoint: value,
    };
  }
  throw new Error(`unsupported DOCKER_HOST "${value}" (use unix:///path or tcp://host:port)`);
}
