/** `--host` for every command that talks to an engine (a module of its own: no engine code loads for --help). */
export const HOST_OPTION = [
  '-H, --host <address>',
  'the Docker engine: unix:///path, tcp://HOST:PORT or ssh://[USER@]HOST[:PORT] (default: DOCKER_HOST, else DOCKER_CONTEXT, else the current docker context, else the local socket)',
] as const;
