import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DockerFrameDecoder, demuxDockerStream } from '../../../src/docker/frame-decoder.js';
import { TailBuffer } from '../../../src/util/tail-buffer.js';

function frame(stream: number, payload: Uint8Array): Buffer {
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

/** Split `data` at the given cut points (any chunking a socket could deliver). */
function chunked(data: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => (data.length ? c % (data.length + 1) : 0)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let last = 0;
  for (const p of [...points, data.length]) {
    out.push(data.subarray(last, p));
    last = p;
  }
  return out;
}

describe('DockerFrameDecoder', () => {
  it('fuzz: any frames, cut into any chunks, decode to the payloads in order', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 2 }), fc.uint8Array({ maxLength: 300 })), { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 30 }), (frames, cuts) => {
        const wire = Buffer.concat(frames.map(([s, p]) => frame(s, p)));
        const out: Buffer[] = [];
        const byStream: Record<number, Buffer[]> = { 1: [], 2: [] };
        const decoder = new DockerFrameDecoder((c, stream) => {
          out.push(Buffer.from(c));
          byStream[stream]?.push(Buffer.from(c));
        });
        for (const chunk of chunked(wire, cuts)) decoder.push(chunk);
        expect(decoder.end()).toEqual({ truncated: false });
        expect(Buffer.concat(out).equals(Buffer.concat(frames.map(([, p]) => Buffer.from(p))))).toBe(true);
        // Each payload byte is handed on with the stream it was written to (stdout: an artifact archive).
        for (const id of [1, 2]) expect(Buffer.concat(byStream[id]!).equals(Buffer.concat(frames.filter(([s]) => s === id).map(([, p]) => Buffer.from(p))))).toBe(true);
      }),
    );
  });

  it('fuzz: a stream cut anywhere after its first header says so', () => {
    // (A cut inside the very first header cannot be told from a short unframed output.)
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 200 }), fc.uint8Array({ maxLength: 50 }), fc.nat(), (payload, first, at) => {
        const wire = Buffer.concat([frame(2, first), frame(1, payload)]);
        const cut = 8 + (at % (wire.length - 8));
        if (cut === 8 + first.length) return; // a frame boundary: a clean end
        const decoder = new DockerFrameDecoder(() => undefined);
        decoder.push(wire.subarray(0, cut));
        expect(decoder.end().truncated).toBe(true);
      }),
    );
  });

  it('fuzz: unframed output (a TTY container) passes through unchanged', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 0, maxLength: 200 }), fc.array(fc.nat(), { maxLength: 10 }), (text, cuts) => {
        const data = Buffer.from('plain: ' + text);
        const out: Buffer[] = [];
        const decoder = new DockerFrameDecoder((c) => out.push(Buffer.from(c)));
        for (const chunk of chunked(data, cuts)) decoder.push(chunk);
        decoder.end();
        expect(Buffer.concat(out).equals(data)).toBe(true);
        expect(demuxDockerStream(data)).toBe(data.toString('utf8'));
      }),
    );
  });

  it('never holds more than a header: 50 MB of frames pass with a constant buffer', () => {
    let total = 0;
    const decoder = new DockerFrameDecoder((c) => (total += c.length));
    const payload = Buffer.alloc(1 << 20, 0x61);
    for (let i = 0; i < 50; i++) decoder.push(frame(2, payload));
    expect(total).toBe(50 << 20);
  });
});

describe('TailBuffer', () => {
  it('fuzz: keeps exactly the last `limit` bytes of any chunk sequence, and counts all of them', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 100 }), { maxLength: 40 }), fc.integer({ min: 1, max: 150 }), (chunks, limit) => {
        const tail = new TailBuffer(limit);
        for (const c of chunks) tail.push(Buffer.from(c));
        const all = Buffer.concat(chunks.map((c) => Buffer.from(c)));
        expect(tail.total).toBe(all.length);
        expect(tail.bytes().equals(all.subarray(Math.max(0, all.length - limit)))).toBe(true);
        expect(tail.cut).toBe(Math.max(0, all.length - limit));
      }),
    );
  });

  it('does not start its text with half a character', () => {
    const tail = new TailBuffer(5);
    tail.push(Buffer.from('ééééé'));
    expect(tail.text()).toBe('éé');
  });
});
