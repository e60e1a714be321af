import { execFileSync } from 'node:child_process';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Every temp directory a test makes (project copies, extraction targets, fake roots) lands in one
 * directory per run, removed when the run ends: suites that forget to clean up, or a run killed
 * mid-file, must not fill /tmp across CI runs (8,730 leftovers, 1.2 GB, were found once).
 * Workers start after this and inherit TMPDIR, which os.tmpdir() reads on every call.
 * Each project copy a test builds gets its own compiler cache volume (one per trust domain,
 * src/building/cache-scope.ts); those of this run's directories go with it.
 */
export default function setup(): () => void {
  const dir = mkdtempSync(join(tmpdir(), 'pb-tests-'));
  process.env.TMPDIR = dir;
  return () => {
    removeCacheVolumesUnder(`${hostname()}:${realpathSync(dir)}/`);
    rmSync(dir, { recursive: true, force: true });
  };
}

function removeCacheVolumesUnder(prefix: string): void {
  try {
    const rows = execFileSync('docker', ['volume', 'ls', '--filter', 'label=io.plugin-builder.cache-domain', '--format', '{{.Name}}\t{{.Label "io.plugin-builder.cache-domain"}}'], { encoding: 'utf8', timeout: 30_000 });
    const ours = rows.split('\n').flatMap((row) => {
      const [name, domain] = row.split('\t');
      return name && domain?.startsWith(prefix) ? [name] : [];
    });
    for (let i = 0; i < ours.length; i += 100) execFileSync('docker', ['volume', 'rm', '-f', ...ours.slice(i, i + 100)], { stdio: 'ignore', timeout: 60_000 });
  } catch {
    // No engine (a unit-only run): nothing of ours can be there.
  }
}
