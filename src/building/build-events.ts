/** Progress of a build, for people (stderr lines) or machines (ignored under --json). */
export type BuildEvent =
  | { type: 'step'; message: string }
  | { type: 'image-output'; line: string }
  | { type: 'plugin-start'; name: string; kind: string }
  | { type: 'plugin-unchanged'; name: string }
  | { type: 'plugin-progress'; name: string; seconds: number }
  | { type: 'plugin-built'; name: string; seconds: number; sha256: string; size: number }
  | { type: 'plugin-failed'; name: string; seconds: number; reason: string; output: string; outputBytes: number };

export type BuildReporter = (event: BuildEvent) => void;
