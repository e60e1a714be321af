import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import * as tarFs from 'tar-fs';
import { managedLabels } from '../../src/docker/engine.js';
import { demuxDockerStream } from '../../src/docker/frame-decoder.js';
import type { LockfileState, PluginStatus } from '../../src/runtime/plugin-host.js';

/** What the host service answers (one shape covers every route). */
export interface HostAnswer {
  status?: string;
  result?: unknown;
  error?: string;
  code?: string;
  trust?: string;
  lockfile?: LockfileState | string;
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
  port: number;
  container: Docker.Container;
  /** Copy the files of `dir` into /app/plugins of the running container. */
  deploy(dir: string, files?: string[]): Promise<void>;
  /** Run a command inside the container (as root by default: the service itself is not). */
  exec(cmd: string[], user?: string): Promise<{ exitCode: number; output: string }>;
  logs(): Promise<string>;
  stop(): Promise<void>;
  get(path: string, headers?: Record<string, string>): Promise<{ status: number; body: HostAnswer }>;
  post(path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: HostAnswer }>;
  put(path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: HostAnswer }>;
}

export interface HostContainerOptions {
  /**
   * `loopback` (default): `--network host`, the service told to listen on 127.0.0.1:PORT.
   * `image-default`: the image's own CMD (0.0.0.0:8080 inside), published on 127.0.0.1:PORT.
   */
  mode?: 'loopback' | 'image-default';
  /** Extra `builder host` arguments (loopback mode). */
  args?: string[];
  /** Loopback mode: the container's command for a port, instead of `builder host` (a Go host's flags). */
  command?: (port: number) => string[];
  env?: string[];
  /** Files put into /app/trust before the start: name → content. */
  trust?: Record<string, string>;
  /** Wait for /healthz (default), or return at once (to watch a refused start). */
  waitHealthy?: boolean;
}

async function putDir(container: Docker.Container, dir: string, target: string, files?: string[]): Promise<void> {
  const tar = tarFs.pack(dir, {
    ...(files ? { entries: files } : {}),
    // As a deployment would: owned by root, readable (not writable) by the service user. The
    // local temp directories are 0700, which would hide everything from uid 10001.
    map: (header) => ({ ...header, name: `${target}/${header.name}`, uid: 0, gid: 0, mode: header.type === 'directory' ? 0o755 : (header.mode ?? 0o644) | 0o444 }),
  });
  await container.putArchive(tar as unknown as NodeJS.ReadableStream, { path: '/' });
}

/**
 * Run a host image's plugin service with `dir` deployed as /app/plugins. Traffic stays on the
 * machine's loopback: `--network host` with `--listen 127.0.0.1`, or a port published on
 * 127.0.0.1 — never a bridge address.
 */
export async function startHostContainer(image: string, dir: string, options: HostContainerOptions = {}): Promise<HostContainer> {
  const port = await freePort();
  const mode = options.mode ?? 'loopback';
  const container = await docker.createContainer({
    Image: image,
    ...(mode === 'loopback'
      ? { Cmd: options.command?.(port) ?? ['node', '/app/dist/builder.js', 'host', '--plugins', '/app/plugins', '--port', String(port), '--listen', '127.0.0.1', ...(options.args ?? [])] }
      : { ExposedPorts: { '8080/tcp': {} } }),
    Env: options.env ?? [],
    Labels: managedLabels('test-host'),
    HostConfig: mode === 'loopback' ? { NetworkMode: 'host' } : { PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: String(port) }] } },
  });
  const url = `http://127.0.0.1:${port}`;
  const logs = async () => {
    const buffer = (await container.logs({ stdout: true, stderr: true })) as unknown as Buffer;
    return demuxDockerStream(buffer);
  };
  const request = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(url + path, { method, headers, signal: AbortSignal.timeout(60_000), ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }) });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as HostAnswer };
  };
  const stop = async () => {
    await container.remove({ force: true }).catch(() => {});
  };
  const exec = async (cmd: string[], user = 'root') => {
    const run = await container.exec({ Cmd: cmd, User: user, AttachStdout: true, AttachStderr: true });
    const stream = await run.start({ hijack: true, stdin: false });
    const chunks: Buffer[] = [];
    await new Promise<void>((resolve, reject) => {
      stream.on('data', (d: Buffer) => chunks.push(d));
      stream.on('end', resolve);
      stream.on('error', reject);
    });
    const { ExitCode } = await run.inspect();
    return { exitCode: ExitCode ?? -1, output: demuxDockerStream(Buffer.concat(chunks)) };
  };
  try {
    await putDir(container, dir, 'app/plugins');
    if (options.trust) {
      const trustDir = await mkdtemp(join(tmpdir(), 'pb-trust-'));
      for (const [name, content] of Object.entries(options.trust)) await writeFile(join(trustDir, name), content);
      await putDir(container, trustDir, 'app/trust');
      await rm(trustDir, { recursive: true, force: true });
    }
    await container.start();
    if (options.waitHealthy !== false) {
      const deadline = Date.now() + 30_000;
      for (;;) {
        // A published port accepts before the service listens: every probe has its own deadline.
        const ok = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) }).then((r) => r.ok, () => false);
        if (ok) break;
        const state = await container.inspect();
        if (!state.State.Running) throw new Error(`host container exited (${state.State.ExitCode}):\n${await logs()}`);
        if (Date.now() > deadline) throw new Error(`host did not answer within 30 s:\n${await logs()}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url,
    port,
    container,
    deploy: (d, files) => putDir(container, d, 'app/plugins', files),
    exec,
    logs,
    stop,
    get: (path, headers) => request('GET', path, undefined, headers),
    post: (path, body, headers) => request('POST', path, body, headers),
    put: (path, body, headers) => request('PUT', path, body, headers),
  };
}
