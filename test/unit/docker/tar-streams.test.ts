import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import * as tarStream from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { demuxDockerStream } from '../../../src/docker/frame-decoder.js';
import { parseDockerHost } from '../../../src/docker/docker-host.js';
import { extractFlatFiles, packFiles } from '../../../src/docker/tar-streams.js';
import { UnsafeArtifactError } from '../../../src/errors.js';

type Entry = { name: string; type?: 'file' | 'symlink' | 'link' | 'directory'; data?: string; linkname?: string };

function tar(entries: Entry[]): Readable {
  const pack = tarStream.pack();
  for (const e of entries) {
    const type = e.type ?? 'file';
    if (type === 'file') pack.entry({ name: e.name, type }, e.data ?? 'x');
    else pack.entry({ name: e.name, type, linkname: e.linkname });
  }
  pack.finalize();
  return pack as unknown as Readable;
}

async function staging(): Promise<{ parent: string; dest: string }> {
  const parent = await mkdtemp(join(tmpdir(), 'pb-extract-'));
  const dest = join(parent, 'dest');
  await mkdir(dest);
  return { parent, dest };
}

describe('extractFlatFiles', () => {
  it("takes plain files from Docker's archive of /out", async () => {
    const { dest } = await staging();
    const names = await extractFlatFiles(tar([{ name: 'out/', type: 'directory' }, { name: 'out/libx.so', data: 'ELF' }, { name: 'out/libx.h', data: 'h' }]), dest, 1 << 20);
    expect(names.map((n) => n.name)).toEqual(['libx.h', 'libx.so']);
    expect(names[1]).toEqual({ name: 'libx.so', size: 3, sha256: createHash('sha256').update('ELF').digest('hex') });
    expect(await readFile(join(dest, 'libx.so'), 'utf8')).toBe('ELF');
  });

  it.each<[string, Entry[]]>([
    ['a ../ path', [{ name: 'out/../../evil.so' }]],
    ['an absolute path', [{ name: '/abs.so' }]],
    ['a symlink', [{ name: 'out/libx.so', type: 'symlink', linkname: '/etc/passwd' }]],
    ['a hard link', [{ name: 'out/libx.so', type: 'link', linkname: 'out/other' }]],
    ['a nested file', [{ name: 'out/sub/x.so' }]],
  ])('refuses %s, writing nothing outside', async (_what, entries) => {
    const { parent, dest } = await staging();
    await expect(extractFlatFiles(tar(entries), dest, 1 << 20)).rejects.toBeInstanceOf(UnsafeArtifactError);
    expect((await readdir(parent)).sort()).toEqual(['dest']);
  });

  it('refuses output over the size limit', async () => {
    const { dest } = await staging();
    await expect(extractFlatFiles(tar([{ name: 'out/big.so', data: 'x'.repeat(100) }]), dest, 10)).rejects.toThrow(/exceeds 10 bytes/);
  });
});

describe('packFiles', () => {
  it('prefixes names and normalises owner and mtime', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pb-pack-'));
    await writeFile(join(dir, 'a.c'), 'int a;');
    const extract = tarStream.extract();
    packFiles(dir, ['a.c'], 'src').pipe(extract as unknown as NodeJS.WritableStream);
    const seen: Array<{ name: string; mtime: number; uid: number }> = [];
    for await (const entry of extract) {
      seen.push({ name: entry.header.name, mtime: entry.header.mtime?.getTime() ?? -1, uid: entry.header.uid ?? -1 });
      entry.resume();
    }
    expect(seen).toEqual([{ name: 'src/a.c', mtime: 0, uid: 0 }]);
  });
});

describe('DOCKER_HOST and log frames', () => {
  it('parses DOCKER_HOST like the docker CLI', () => {
    expect(parseDockerHost({})).toMatchObject({ kind: 'socket', socketPath: '/var/run/docker.sock' });
    expect(parseDockerHost({ DOCKER_HOST: 'unix:///x.sock' })).toMatchObject({ kind: 'socket', socketPath: '/x.sock' });
    expect(parseDockerHost({ DOCKER_HOST: 'tcp://127.0.0.1:2375' })).toMatchObject({ kind: 'tcp', host: '127.0.0.1', port: 2375, protocol: 'http' });
    expect(parseDockerHost({ DOCKER_HOST: 'tcp://h', DOCKER_TLS_VERIFY: '1' })).toMatchObject({ port: 2376, protocol: 'https' });
    expect(() => parseDockerHost({ DOCKER_HOST: 'ftp://x' })).toThrow(/unsupported DOCKER_HOST/);
  });

  it('demultiplexes stdout/stderr frames, passes raw text through', () => {
    const frame = (stream: number, text: string) => {
      const head = Buffer.alloc(8);
      head[0] = stream;
      head.writeUInt32BE(Buffer.byteLength(text), 4);
      return Buffer.concat([head, Buffer.from(text)]);
    };
    expect(demuxDockerStream(Buffer.concat([frame(1, 'out\n'), frame(2, 'err\n')]))).toBe('out\nerr\n');
    expect(demuxDockerStream(Buffer.from('plain text'))).toBe('plain text');
  });
});
