import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import Docker from 'dockerode';
import * as tarFs from 'tar-fs';
import { managedLabels } from '../../src/docker/engine.js';
import { demuxDockerStream } from '../../src/docker/frame-decoder.js';
import { packageRoot } from '../../src/package-root.js';

/** Debian's Go 1.19 with gcc and musl-gcc (images/go-dev, made by scripts/setup.sh). */
export const GO_DEV = 'plugin-builder/go-dev:bookworm';
export const PLUGINHOST_MODULE = join(packageRoot(), 'go/pluginhost');

const docker = new Docker();

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await filesUnder(full)));
    else out.push(full);
  }
  return out.sort();
}

async function moduleHash(): Promise<string> {
  const hash = createHash('sha256');
  for (const file of await filesUnder(PLUGINHOST_MODULE)) hash.update(relative(PLUGINHOST_MODULE, file)).update('\0').update(await readFile(file)).update('\0');
  return hash.digest('hex').slice(0, 16);
}

/**
 * Run `script` (sh) in a go-dev container with the pluginhost module at /m; what the script
 * leaves in /out is extracted to `outDir` (when given). Returns exit code and output.
 */
export async function inGoDev(script: string, outDir?: string): Promise<{ exitCode: number; output: string }> {
  const container = await docker.createContainer({
    Image: GO_DEV,
    Cmd: ['sh', '-c', `set -e; mkdir -p /out; cd /m; ${script}`],
    Env: ['GOCACHE=/tmp/gocache', 'HOME=/tmp'],
    Labels: managedLabels('test-go'),
    HostConfig: { NetworkMode: 'none' },
  });
  try {
    await container.putArchive(tarFs.pack(PLUGINHOST_MODULE, { map: (h) => ({ ...h, name: `m/${h.name}` }) }) as unknown as NodeJS.ReadableStream, { path: '/' });
    await container.start();
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    const output = demuxDockerStream((await container.logs({ stdout: true, stderr: true })) as unknown as Buffer);
    if (StatusCode === 0 && outDir) {
      const tar = await container.getArchive({ path: '/out/.' });
      await new Promise<void>((resolve, reject) => {
        const extract = tarFs.extract(outDir);
        extract.on('finish', resolve).on('error', reject);
        (tar as NodeJS.ReadableStream).on('error', reject).pipe(extract);
      });
    }
    return { exitCode: StatusCode, output };
  } finally {
    await container.remove({ force: true }).catch(() => {});
  }
}

/**
 * A static (CGO_ENABLED=0) build of one of the module's commands, runnable on this machine
 * and in any image. Cached by the module's content in the temp directory.
 */
export async function goTool(name: 'pluginhost-env' | 'pluginhost-oracle'): Promise<string> {
  const dir = join(tmpdir(), `pb-go-tools-${await moduleHash()}`);
  const path = join(dir, name);
  if (await stat(path).then((s) => s.isFile(), () => false)) return path;
  await mkdir(dir, { recursive: true });
  const staging = await mkdtemp(join(dir, '.build-'));
  try {
    const run = await inGoDev(`CGO_ENABLED=0 go build -trimpath -o /out/${name} ./cmd/${name}`, staging);
    if (run.exitCode !== 0) throw new Error(`building ${name} failed:\n${run.output}`);
    // Several test files may build at once: the rename makes whichever finishes last win whole.
    await rename(join(staging, name), path);
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
  return path;
}

/** The oracle as a long-running process: one JSON request per line, answers in order. */
export class GoOracle {
  private readonly child;
  private readonly pending: Array<(line: string) => void> = [];

  private constructor(path: string) {
    this.child = spawn(path, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    createInterface({ input: this.child.stdout }).on('line', (line) => this.pending.shift()?.(line));
  }

  static async start(): Promise<GoOracle> {
    return new GoOracle(await goTool('pluginhost-oracle'));
  }

  ask<T>(request: Record<string, unknown>): Promise<T> {
    return new Promise((resolve) => {
      this.pending.push((line) => resolve(JSON.parse(line) as T));
      this.child.stdin.write(JSON.stringify(request) + '\n');
    });
  }

  async stop(): Promise<void> {
    this.child.stdin.end();
    await new Promise((resolve) => this.child.once('exit', resolve));
  }
}
