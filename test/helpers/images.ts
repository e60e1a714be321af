import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import * as tarFs from 'tar-fs';
import { managedLabels } from '../../src/docker/engine.js';
import { demuxDockerStream } from '../../src/docker/frame-decoder.js';

const docker = new Docker();

/** Build a small test image from a Dockerfile text (plus files copied into the context); `labels` replace ours. */
export async function buildTestImage(tag: string, dockerfile: string, files: Record<string, Buffer> = {}, labels: Record<string, string> = managedLabels('test-image')): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pb-image-'));
  await writeFile(join(dir, 'Dockerfile'), dockerfile);
  for (const [name, data] of Object.entries(files)) await writeFile(join(dir, name), data);
  const stream = await docker.buildImage(tarFs.pack(dir) as unknown as NodeJS.ReadableStream, { t: tag, labels, rm: true });
  const output: string[] = [];
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(stream, (err: Error | null, res: Array<{ error?: string }>) => {
      const failed = res?.find((r) => r.error);
      if (err || failed) reject(new Error(`building ${tag}: ${err?.message ?? failed?.error}\n${output.join('')}`));
      else resolve();
    }, (event: { stream?: string }) => output.push(event.stream ?? '')),
  );
  return (await docker.getImage(tag).inspect()).Id;
}

export interface RunOutput {
  exitCode: number;
  output: string;
}

/**
 * Create a container of `image` (no network), let `prepare` put files into it, run it to the
 * end and return its exit code and output. The container is always removed.
 */
export async function runContainer(image: string, cmd: string[] | undefined, prepare: (c: Docker.Container) => Promise<void> = async () => {}): Promise<RunOutput> {
  const container = await docker.createContainer({ Image: image, ...(cmd ? { Cmd: cmd } : {}), Labels: managedLabels('test'), HostConfig: { NetworkMode: 'none' } });
  try {
    await prepare(container);
    await container.start();
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    const logs = (await container.logs({ stdout: true, stderr: true })) as unknown as Buffer;
    return { exitCode: StatusCode, output: demuxDockerStream(logs).trim() };
  } finally {
    await container.remove({ force: true }).catch(() => {});
  }
}

/** Put one file into a fresh container of `image` and run `cmd` there. */
export async function runWithFile(image: string, file: { path: string; data: Buffer; mode?: number }, cmd: string[]): Promise<RunOutput> {
  const dir = await mkdtemp(join(tmpdir(), 'pb-file-'));
  try {
    await writeFile(join(dir, file.path.split('/').pop() as string), file.data, { mode: file.mode ?? 0o644 });
    const parent = file.path.slice(0, file.path.lastIndexOf('/')) || '/';
    return await runContainer(image, cmd, (c) => c.putArchive(tarFs.pack(dir) as unknown as NodeJS.ReadableStream, { path: parent }).then(() => {}));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Copy a directory's files to `target` in a fresh container of `image` and run it (entrypoint + `args`). */
export async function runWithDir(image: string, dir: string, target: string, args: string[]): Promise<RunOutput> {
  return runContainer(image, args, (c) => c.putArchive(tarFs.pack(dir) as unknown as NodeJS.ReadableStream, { path: target }).then(() => {}));
}
