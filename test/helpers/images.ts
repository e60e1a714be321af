import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import * as tarFs from 'tar-fs';
import { managedLabels } from '../../src/docker/engine.js';
import { demuxDockerStream } from '../../src/docker/demux.js';

const docker = new Docker();

/** Build a small test image from a Dockerfile text (plus files copied into the context). */
export async function buildTestImage(tag: string, dockerfile: string, files: Record<string, Buffer> = {}): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pb-image-'));
  await writeFile(join(dir, 'Dockerfile'), dockerfile);
  for (const [name, data] of Object.entries(files)) await writeFile(join(dir, name), data);
  const stream = await docker.buildImage(tarFs.pack(dir) as unknown as NodeJS.ReadableStream, { t: tag, labels: managedLabels('test-image'), rm: true });
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

/** Put one file into a fresh container of `image` and run `cmd` there (no network). */
export async function runWithFile(image: string, file: { path: string; data: Buffer }, cmd: string[]): Promise<{ exitCode: number; output: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'pb-file-'));
  const name = file.path.split('/').pop() as string;
  await writeFile(join(dir, name), file.data);
  const container = await docker.createContainer({ Image: image, Cmd: cmd, Labels: managedLabels('test'), HostConfig: { NetworkMode: 'none' } });
  try {
    const parent = file.path.slice(0, file.path.lastIndexOf('/')) || '/';
    await container.putArchive(tarFs.pack(dir) as unknown as NodeJS.ReadableStream, { path: parent });
    await container.start();
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    const logs = (await container.logs({ stdout: true, stderr: true })) as unknown as Buffer;
    return { exitCode: StatusCode, output: demuxDockerStream(logs).trim() };
  } finally {
    await container.remove({ force: true }).catch(() => {});
  }
}

/** Copy a directory's files to `target` in a fresh container of `image` and run it (entrypoint + `args`). */
export async function runWithDir(image: string, dir: string, target: string, args: string[]): Promise<{ exitCode: number; output: string }> {
  const container = await docker.createContainer({ Image: image, Cmd: args, Labels: managedLabels('test'), HostConfig: { NetworkMode: 'none' } });
  try {
    await container.putArchive(tarFs.pack(dir) as unknown as NodeJS.ReadableStream, { path: target });
    await container.start();
    const { StatusCode } = (await container.wait()) as { StatusCode: number };
    const logs = (await container.logs({ stdout: true, stderr: true })) as unknown as Buffer;
    return { exitCode: StatusCode, output: demuxDockerStream(logs).trim() };
  } finally {
    await container.remove({ force: true }).catch(() => {});
  }
}
