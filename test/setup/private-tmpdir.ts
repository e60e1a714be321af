import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Every temp directory a test makes (project copies, extraction targets, fake roots) lands in one
 * directory per run, removed when the run ends: suites that forget to clean up, or a run killed
 * mid-file, must not fill /tmp across CI runs (8,730 leftovers, 1.2 GB, were found once).
 * Workers start after this and inherit TMPDIR, which os.tmpdir() reads on every call.
 */
export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'pb-tests-'));
  process.env.TMPDIR = dir;
  return () => rmSync(dir, { recursive: true, force: true });
}
