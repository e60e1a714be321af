/**
 * Docker multiplexes stdout and stderr of a non-TTY container into frames:
 * [stream(1) 0 0 0 size(4, big-endian)] payload. This decodes them as chunks arrive, holding at
 * most one 8-byte header: the payload is handed on as it comes, so output of any size passes
 * through in constant memory. A stream that does not start with a valid header (a TTY
 * container) is passed through as it is.
 */
export type DockerStream = 0 | 1 | 2;

export class DockerFrameDecoder {
  private header = Buffer.alloc(0);
  private remaining = 0;
  private raw: boolean | null = null;
  private stream: DockerStream = 0;

  /** `stream` is 1 for stdout, 2 for stderr, 0 for an unframed stream (or stdin, never sent). */
  constructor(private readonly onPayload: (chunk: Buffer, stream: DockerStream) => void) {}

  push(chunk: Buffer): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.raw) {
        this.onPayload(chunk.subarray(offset), 0);
        return;
      }
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - offset);
        this.onPayload(chunk.subarray(offset, offset + take), this.stream);
        this.remaining -= take;
        offset += take;
        continue;
      }
      const need = 8 - this.header.length;
      this.header = Buffer.concat([this.header, chunk.subarray(offset, offset + need)]);
      offset += Math.min(need, chunk.length - offset);
      if (this.header.length < 8) return;
      const valid = (this.header[0] as number) <= 2 && this.header[1] === 0 && this.header[2] === 0 && this.header[3] === 0;
      if (!valid) {
        if (this.raw === null) {
          // Not framed from the start: everything is plain output.
          this.raw = true;
          this.onPayload(this.header, 0);
          this.header = Buffer.alloc(0);
          continue;
        }
        throw new Error('malformed Docker log stream (bad frame header)');
      }
      this.raw = false;
      this.stream = this.header[0] as DockerStream;
      this.remaining = this.header.readUInt32BE(4);
      this.header = Buffer.alloc(0);
    }
  }

  /** Call at the end of the stream: a partial header is plain output when unframed; else reports a cut frame. */
  end(): { truncated: boolean } {
    if (this.header.length > 0 && this.raw !== false) {
      this.onPayload(this.header, 0);
      return { truncated: false };
    }
    return { truncated: this.header.length > 0 || this.remaining > 0 };
  }
}

/** Whole-buffer form, for small outputs already in memory. */
export function demuxDockerStream(buffer: Buffer): string {
  const parts: Buffer[] = [];
  const decoder = new DockerFrameDecoder((chunk) => parts.push(chunk));
  try {
    decoder.push(buffer);
    decoder.end();
  } catch {
    return buffer.toString('utf8');
  }
  return Buffer.concat(parts).toString('utf8');
}
