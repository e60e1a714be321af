import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

/** A process, named so that a reused pid is not mistaken for it: host, pid and kernel start time. */
export interface ProcessIdentity {
  host: string;
  pid: number;
  /** Field 22 of /proc/PID/stat (clock ticks since boot); null where /proc is unavailable. */
  start: string | null;
}

function startTimeOf(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: fields are counted after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

export function currentProcess(): ProcessIdentity {
  return { host: hostname(), pid: process.pid, start: startTimeOf(process.pid) };
}

/** true / false for a process of this host; 'unknown' for another host's (its pids mean nothing here). */
export function isAlive(identity: ProcessIdentity): boolean | 'unknown' {
  if (identity.host !== hostname()) return 'unknown';
  try {
    process.kill(identity.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const start = startTimeOf(identity.pid);
  return identity.start === null || start === null || start === identity.start;
}

export function sameProcess(a: ProcessIdentity, b: ProcessIdentity): boolean {
  return a.host === b.host && a.pid === b.pid && a.start === b.start;
}
