import { globalAgent as httpAgent } from 'node:http';
import type { Agent, ClientRequest, IncomingMessage } from 'node:http';
import { globalAgent as httpsAgent } from 'node:https';

/** What an engine answer exceeding its bound is failed with (mapped to ENGINE_LOST by the engine adapter). */
export class EngineAnswerTooLarge extends Error {
  constructor(readonly limit: number) {
    super(`the engine's answer exceeded ${limit} bytes`);
  }
}

/** The bound on an answer buffered whole: a JSON answer, or the body of an error status. */
export const MAX_ENGINE_ANSWER_BYTES = 32 * 1024 * 1024;

interface ModemLike {
  protocol?: string;
  buildRequest(options: Record<string, unknown>, context: { isStream?: boolean; hijack?: boolean }, data: unknown, callback: unknown): void;
}

/**
 * Bound every answer docker-modem buffers, in one place. The modem reads a JSON answer (image
 * inspect, container list, …) and the body of any error status into memory whole, with no
 * limit: an engine that answers with an endless body took 7.4 GB before the call's time limit.
 * Each request is seen as it is handed to its agent (the modem sets the ssh agent itself, so the
 * agent is caught as it is assigned); past `limit` bytes of a buffered answer, the request is
 * destroyed with EngineAnswerTooLarge. Streams that succeed (build output, archives, attach) are
 * left to their readers, which bound what they keep.
 */
export function boundEngineAnswers(modem: ModemLike, limit: number = MAX_ENGINE_ANSWER_BYTES): void {
  const buildRequest = modem.buildRequest;
  modem.buildRequest = function (this: ModemLike, options, context, data, callback) {
    const streaming = context.isStream === true || context.hijack === true;
    let agent = (options.agent as Agent | undefined) ?? (this.protocol === 'https' ? httpsAgent : httpAgent);
    Object.defineProperty(options, 'agent', {
      configurable: true,
      enumerable: true,
      get: () => watching(agent, (req) => bound(req, streaming, limit)),
      set: (value: Agent) => {
        agent = value;
      },
    });
    return buildRequest.call(this, options, context, data, callback);
  };
}

/** The agent, with every request it is handed shown to `onRequest` first. */
function watching(agent: Agent, onRequest: (req: ClientRequest) => void): Agent {
  return new Proxy(agent, {
    get(target, prop) {
      if (prop === 'addRequest') {
        return (req: ClientRequest, ...rest: unknown[]) => {
          onRequest(req);
          return (Reflect.get(target, 'addRequest') as (...args: unknown[]) => unknown).call(target, req, ...rest);
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

function bound(req: ClientRequest, streaming: boolean, limit: number): void {
  // Prepended: it sees the answer before the modem's own listener starts buffering it.
  req.prependListener('response', (res: IncomingMessage) => {
    if (streaming && (res.statusCode ?? 0) < 300) return;
    // The request is destroyed with the error; the answer's own error event must not go unheard.
    res.on('error', () => undefined);
    let seen = 0;
    res.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > limit) {
        const error = new EngineAnswerTooLarge(limit);
        req.destroy(error);
        res.destroy(error);
      }
    });
  });
}
