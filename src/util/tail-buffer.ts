/**
 * The last `limit` bytes of an unbounded stream of chunks, and how many came in all: compiler
 * output can be hundreds of megabytes, and only its end (where the error is) is worth keeping.
 */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private held = 0;
  total = 0;

  constructor(readonly limit: number) {}

  push(chunk: Buffer): void {
    this.total += chunk.length;
    const piece = chunk.length > this.limit ? chunk.subarray(chunk.length - this.limit) : chunk;
    // Copy: the caller's buffer may be a view into a larger one we must not keep alive.
    this.chunks.push(Buffer.from(piece));
    this.held += piece.length;
    while (this.held - (this.chunks[0]?.length ?? 0) >= this.limit) this.held -= (this.chunks.shift() as Buffer).length;
  }

  /** Bytes seen but not kept. */
  get cut(): number {
    return this.total - Math.min(this.held, this.limit);
  }

  bytes(): Buffer {
    const all = Buffer.concat(this.chunks);
    return all.length > this.limit ? all.subarray(all.length - this.limit) : all;
  }

  /** The kept bytes as UTF-8, without a character split by the cut. */
  text(): string {
    let bytes = this.bytes();
    if (this.cut > 0) {
      let start = 0;
      while (start < bytes.length && start < 4 && ((bytes[start] as number) & 0xc0) === 0x80) start++;
      bytes = bytes.subarray(start);
    }
    return bytes.toString('utf8');
  }
}
