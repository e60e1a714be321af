import { StringDecoder } from 'node:string_decoder';
import { EngineAnswerTooLarge, MAX_ENGINE_ANSWER_BYTES } from './bounded-answers.js';
import type { Readable } from 'node:stream';

const LOG_TAIL_LINES = 30;

/**
 * The JSON lines of a build or pull stream. The API answers 200 and reports failure inside the
 * stream, so every line is read and an `error` line is kept as the failure, although the stream
 * itself ends normally. The last lines are kept for error messages.
 */
export class ProgressLines {
  readonly tail: string[] = [];
  failure: string | null = null;
  /** A push's manifest digest (its `aux.Digest` line). */
  digest: string | null = null;

  constructor(private readonly onOutput: (line: string) => void) {}

  async read(stream: Readable): Promise<void> {
    // A line without an end is an answer without a bound: it is cut at MAX_ENGINE_ANSWER_BYTES,
    // as every buffered answer is (bounded-answers.ts). Only a chunk's own newlines are searched.
    const decoder = new StringDecoder('utf8');
    let pending = '';
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const text = decoder.write(chunk);
      const end = text.lastIndexOf('\n');
      if (end === -1) {
        pending += text;
        if (pending.length > MAX_ENGINE_ANSWER_BYTES) throw new EngineAnswerTooLarge(MAX_ENGINE_ANSWER_BYTES);
        continue;
      }
      const lines = (pending + text.slice(0, end)).split('\n');
      pending = text.slice(end + 1);
      lines.forEach((line) => this.handle(line));
    }
    this.handle(pending + decoder.end());
  }

  private remember(line: string): void {
    this.tail.push(line);
    if (this.tail.length > LOG_TAIL_LINES) this.tail.shift();
    this.onOutput(line);
  }

  private handle(raw: string): void {
    if (!raw.trim()) return;
    let message: { stream?: string; error?: string; errorDetail?: { message?: string }; status?: string; id?: string; aux?: { Digest?: string } };
    try {
      message = JSON.parse(raw);
    } catch {
      this.remember(raw);
      return;
    }
    if (message.error || message.errorDetail) {
      this.failure = message.errorDetail?.message ?? message.error ?? 'unknown error';
      return;
    }
    if (typeof message.aux?.Digest === 'string' && /^sha256:[0-9a-f]{64}$/.test(message.aux.Digest)) this.digest = message.aux.Digest;
    const text = message.stream ?? (message.status ? `${message.id ? `${message.id}: ` : ''}${message.status}` : undefined);
    if (text) for (const line of text.split('\n')) if (line.trim()) this.remember(line.replace(/\s+$/, ''));
  }
}
