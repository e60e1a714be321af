import { createServer } from 'node:net';
import Docker from 'dockerode';
import * as tarFs from 'tar-fs';
import { managedLabels } from '../../src/docker/engine.js';
import type { PluginStatus } from '../../src/runtime/plugin-host.js';

/** What the host service answers (one shape covers every route). */
export interface HostAnswer {
  status?: string;
  result?: unknown;
  error?: string;
  code?: string;
  plugins?: PluginStatus[];
}

const docker = new Docker();

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface HostContainer {
  url: string;
  /** Copy the files of `dir` into /app/plugins of the running container. */
  deploy(dir: string, files?: string[]): Promise<void>;
  logs(): Promise<string>;
  stop(): Promise<void>;
  get(path: string): Promise<{ status: number; body: HostAnswer }>;
  post(path: string, body?: unknown): Promise<{ status: number; body: HostAnswer }>;
  put(path: string, body?: unknown): Promise<{ status: number; body: HostAnswer }>;
}

async function putDir(container: Docker.Container, dir: string, files?: string[]): Promise<void> {
  const tar = tarFs.pack(dir, {
    ...(files ? { entries: files } : {}),
    map: (header) => ({ ...header, name: `app/plugins/${header.name}`, uid: 0, gid: 0 }),
  });
  await container.putArchive(tar as unknown as NodeJS.ReadableStream, { path: '/' });
}

/**
 * Run a host image's plugin service with `dir` deployed as /app/plugins. `--network host`
 * and `--listen 127.0.0.1`: the service is reached on the machine's loopback, never on a
 * bridge address.
 */
export async function startHostContainer(image: string, dir: string): Promise<HostContainer> {
  const port = await freePort();
  const container = await docker.createContainer({
    Image: image,
    Cmd: ['node', '/app/dist/cli/main.js', 'host', '--plugins', '/app/plugins', '--port', String(port), '--listen', '127.0.0.1'],
    Labels: managedLabels('test-host'),
    HostConfig: { NetworkMode: 'host' },
  });
  const url = `http://127.0.0.1:${port}`;
  const logs = async () => {
    const buffer = (await container.logs({ stdout: true, stderr: true })) as unknown as Buffer;
    return buffer.toString('utf8').replace(/[\x00-\x08]/g, '');
  };
  const request = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(url + path, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: res.status, body: (await res.json()) as HostAnswer };
  };
  const stop = async () => {
    await container.remove({ force: true }).catch(() => {});
  };
  try {
    await putDir(container, dir);
    await container.start();
    const deadline = Date.now() + 30_000;
    for (;;) {
      const ok = await fetch(`${url}/healthz`).then((r) => r.ok, () => false);
      if (ok) break;
      const state = await container.inspect();
      if (!state.State.Running) throw new Error(`host container exited (${state.State.ExitCode}):\n${await logs()}`);
      if (Date.now() > deadline) throw new Error(`host did not answer within 30 s:\n${await logs()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url,
    deploy: (d, files) => putDir(container, d, files),
    logs,
    stop,
    get: (path) => request('GET', path),
    post: (path, body) => request('POST', path, body),
    put: (path, body) => request('PUT', path, body),
  };
}
