import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { type ErrorCode, isErrorCode } from '../error-codes.js';
import { BuilderError, CanaryCrashedError } from '../errors.js';
import { TailBuffer } from '../util/tail-buffer.js';
import { lastWords, ProofLines } from './canary-protocol.js';
import type { SealedCopy } from './sealer.js';

/** Loads a sealed copy in a throwaway process first; resolves only when it loaded there and its manifest bound. */
export interface Canary {
  check(sealed: SealedCopy, plugin: { name: string; file: string; sha256: string; size: number }, signal: AbortSignal): Promise<void>;
}

const STDERR_TAIL = 16 * 1024;
/** How long the pipes may stay open after the child ended (something it forked may hold them). */
const PIPE_GRACE_MS = 200;

/** The host's environment without its own secret: the canary serves no request. */
function childEnvironment(): NodeJS.ProcessEnv {
  const { BUILDER_HOST_TOKEN: _, ...env } = process.env;
  return env;
}
const CHILD_FD = 3;

/**
 * The canary of `builder host`: the same program (`command`: node, its flags and the CLI script),
 * the same environment, started as `… canary --fd 3` with the sealed copy (the bytes this process
 * hashed and will load) as its descriptor 3. A child that dies in the load — ld.so's assertion
 * (exit 127), a constructor's SIGSEGV — is CANARY_CRASHED; the caller has loaded nothing.
 */
export function childProcessCanary(command: readonly string[], limitMs = 60_000): Canary {
  const [program, ...args] = command;
  if (!program) throw new Error('childProcessCanary needs a command');
  return {
    async check(sealed, plugin, signal) {
      const nonce = randomBytes(16).toString('hex');
      const target = `/proc/self/fd/${CHILD_FD}`;
      const lines = new ProofLines(nonce, new Set([target]));
      const stderr = new TailBuffer(STDERR_TAIL);
      // A descriptor of its own for the child: the sealed copy, opened again (a memfd through /proc/self/fd).
      const handle = await open(sealed.path, 'r');
      let ended: { code: number | null; signal: NodeJS.Signals | null; timedOut: boolean };
      try {
        // Its own process group: what a plugin's constructor forks goes with it (unless it calls setsid).
        const child = spawn(program, [...args, 'canary', '--nonce', nonce, '--fd', String(CHILD_FD), '--name', plugin.name, '--sha256', plugin.sha256, '--size', String(plugin.size)], {
          stdio: ['ignore', 'pipe', 'pipe', handle.fd],
          env: childEnvironment(),
          detached: true,
        });
        const killGroup = () => {
          try {
            if (child.pid) process.kill(-child.pid, 'SIGKILL');
          } catch {
            // Gone already.
          }
        };
        child.stdout!.on('data', (chunk: Buffer) => lines.push(chunk));
        child.stderr!.on('data', (chunk: Buffer) => stderr.push(chunk));
        // Listened for from the start: the pipes usually end before the exit event.
        const drained = Promise.all([once(child.stdout!, 'end'), once(child.stderr!, 'end')]).catch(() => undefined);
        // Node has no parent-death signal: if this process exits mid-check, the child goes with it.
        process.once('exit', killGroup);
        ended = await new Promise((resolve, reject) => {
          let timedOut = false;
          const timer = setTimeout(() => {
            timedOut = true;
            killGroup();
          }, limitMs);
          const stop = () => killGroup();
          signal.addEventListener('abort', stop, { once: true });
          child.once('error', (err) => {
            clearTimeout(timer);
            signal.removeEventListener('abort', stop);
            reject(err);
          });
          // 'exit', not 'close': a process the plugin forked may hold the pipes open for ever.
          child.once('exit', (code, sig) => {
            clearTimeout(timer);
            signal.removeEventListener('abort', stop);
            resolve({ code, signal: sig, timedOut });
          });
        });
        // What the child wrote before it ended is in the pipes: read it, briefly, then let go of them.
        let grace: NodeJS.Timeout | undefined;
        await Promise.race([drained, new Promise((r) => (grace = setTimeout(r, PIPE_GRACE_MS)))]);
        clearTimeout(grace);
        killGroup();
        process.removeListener('exit', killGroup);
        child.stdout!.destroy();
        child.stderr!.destroy();
      } finally {
        await handle.close();
      }
      signal.throwIfAborted();
      lines.end();
      const event = lines.results.get(target);
      // The plugin's code runs in the child and can print the protocol: only an ordinary end backs its report.
      if (event?.state === 'loaded' && lines.done && ended.code === 0) return;
      if (event?.state === 'failed' && lines.done && ended.code === 1) throw childFailure(event.message ?? '');
      const how = ended.timedOut
        ? `did not finish loading within ${limitMs / 1000} s and was killed`
        : ended.signal
          ? `was killed by signal ${ended.signal}`
          : `exited with status ${ended.code}${ended.code === 127 ? ' (the dynamic loader gave up on it)' : ''}`;
      throw new CanaryCrashedError(plugin.name, plugin.file, `${how}${lastWords(stderr.text())}`);
    },
  };
}

// What the child's own verify-then-load can refuse with; any other code it prints is the plugin's
// code talking (it runs in the child and can read the nonce), not the runtime's verdict.
const CHILD_CODES: ReadonlySet<ErrorCode> = new Set(['LOAD_FAILED', 'BAD_MANIFEST', 'HASH_MISMATCH', 'SIZE_MISMATCH', 'SEAL_FAILED', 'FILE_TOO_LARGE', 'NOT_A_REGULAR_FILE', 'FILE_UNREADABLE']);

/** The child's own verdict, `CODE: message`, as the error the host would have raised itself. */
export function childFailure(text: string): BuilderError {
  const match = /^([A-Z][A-Z_]{1,40}): (.*)$/s.exec(text);
  // Only a code of the catalogue passes through: the child is the plugin's process, not a source of codes.
  const named = match?.[1];
  const code: ErrorCode = named !== undefined && isErrorCode(named) && CHILD_CODES.has(named) ? named : 'LOAD_FAILED';
  return new BuilderError(code, `${match ? match[2]! : text} (in the canary process)`, {
    fix: 'Run `builder verify --real` against this host image; rebuild the plugin with `builder build`.',
  });
}

