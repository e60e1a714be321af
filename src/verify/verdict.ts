/** What verify says about one plugin: the report's shape, shared by the model and the real loads. */
import type { LoadCheck } from './load-problem.js';
import type { GoProblem } from './go-plugin-checks.js';

export type ProblemCheck = 'bytes' | 'environment' | 'elf' | 'real-load' | LoadCheck | GoProblem['check'];

export interface Problem {
  check: ProblemCheck;
  message: string;
  fix: string;
}

export interface PluginVerdict {
  name: string;
  file: string;
  bytes: 'ok' | 'mismatch' | 'missing';
  /** sha256 of the bytes found (absent when missing). */
  sha256?: string;
  /** Would the host's dynamic loader load it? null when it could not be judged. */
  loadable: boolean | null;
  /**
   * What loading it would do: load; fail (an error the host runtime reports and survives); or
   * crash the whole process (ld.so aborts: no runtime can catch that).
   */
  outcome: 'loads' | 'fails' | 'crashes' | 'unknown';
  problems: Problem[];
  /** What the prediction relied on beyond the plugin's own dependencies (symbols from the loading program's scope). */
  notes: string[];
  /** With --real: proven (really loaded in the image) or predicted (the model's answer alone). */
  answer?: 'proven' | 'predicted';
  /** With --real: what the real load did. */
  real?: { result: 'loaded' | 'failed'; message?: string };
  /** With --real, when the model and the real load disagree (MODEL_DISAGREES: the real load wins): what the model said. */
  model?: { outcome: PluginVerdict['outcome']; problems: Problem[]; disagrees: true };
}
