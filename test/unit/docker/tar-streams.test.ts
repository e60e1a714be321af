import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { lstat, mkdtemp, readdir, readFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import * as tarStream from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { demuxDockerStream } from '../../../src/docker/frame-decoder.js';
import { extractFlatFiles } from '../../../src/docker/tar-streams.js';
import { OutputWriteError, UnsafeArtifactError } from '../../../src/errors.js';

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

describe('log frames', () => {
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

describe('extractFlatFiles under fuzz', () => {
  const part = fc.constantFrom('out', '..', '.', '', 'a.so', 'lib x.so', '/', 'sub', '-rf', 'libok.so', '\u0000', '%2e%2e');
  const entry = fc.record({
    name: fc.array(part, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/')),
    type: fc.constantFrom('file', 'symlink', 'link', 'directory') as fc.Arbitrary<Entry['type']>,
    linkname: fc.constantFrom('/etc/passwd', '../x', 'out/libok.so'),
  });

  it('two entries for one file (found by the fuzz below: `out/out/\\0`, cut at the NUL, and `out/out`) are an unsafe archive, not a disk error', async () => {
    const { dest } = await staging();
    const twice = tar([
      { name: 'out/out/\u0000', type: 'file', linkname: '' },
      { name: 'out/out', type: 'file', linkname: '' },
    ]);
    await expect(extractFlatFiles(twice, dest, 1 << 20)).rejects.toThrow(/two entries for out/);
    await expect(extractFlatFiles(tar([{ name: 'out/a.so', type: 'file', linkname: '' }, { name: 'out/a.so', type: 'file', linkname: '' }]), (await staging()).dest, 1 << 20)).rejects.toBeInstanceOf(UnsafeArtifactError);
  });

  it('any archive a hostile container could send: only plain, safely named files, and only inside the destination', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { maxLength: 6 }), async (entries) => {
        const { parent, dest } = await staging();
        await extractFlatFiles(tar(entries), dest, 1 << 20).catch((err: unknown) => {
          if (!(err instanceof UnsafeArtifactError) && !/Invalid tar header|Unexpected end/.test(String(err))) throw err;
        });
        expect(await readdir(parent)).toEqual(['dest']);
        for (const name of await readdir(dest)) {
          expect(name).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_.+-]*$/);
          expect((await lstat(join(dest, name))).isFile()).toBe(true);
        }
      }),
      { numRuns: 200 },
    );
  });
});

describe('extractFlatFiles when the archive stream fails', () => {
  it('a stream cut by the engine is not reported as a write failure (the engine layer makes it ENGINE_LOST)', async () => {
    const { dest } = await staging();
    const whole = await new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      const t = tar([{ name: 'out/libx.so', data: 'y'.repeat(100_000) }]);
      t.on('data', (c: Buffer) => chunks.push(c));
      t.on('end', () => resolve(Buffer.concat(chunks)));
    });
    const cut = new Readable({ read() {} });
    cut.push(whole.subarray(0, 5_000));
    setTimeout(() => cut.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', syscall: 'read' })), 20);
    const error = await extractFlatFiles(cut, dest, 1 << 20).then(() => null, (err: unknown) => err);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(OutputWriteError);
  });
});
