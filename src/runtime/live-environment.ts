import { followingSymlinks } from '../env/file-source.js';
import type { EnvironmentFingerprint } from '../env/fingerprint.js';
import { LiveEntryReader } from '../env/live-file-source.js';
import { probeEnvironment } from '../env/probe-environment.js';

/** The running system's fingerprint, by the same probe `builder build` runs on images. */
export function liveFingerprint(root = '/'): Promise<EnvironmentFingerprint> {
  return probeEnvironment(followingSymlinks(new LiveEntryReader(root)));
}
