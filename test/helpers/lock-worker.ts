// A process taking the project lock `rounds` times, logging enter/leave lines to `log` while it
// holds it: the test checks that no two holders ever overlap.
import { appendFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { acquireProjectLock } from '../../src/building/project-lock.js';

const [lockfile, log, rounds, startAt] = process.argv.slice(2) as [string, string, string, string];
// Every worker starts at the same instant, so that they meet the stale lock together.
await sleep(Math.max(0, Number(startAt) - Date.now()));
for (let i = 0; i < Number(rounds); i++) {
  const lock = await acquireProjectLock(lockfile, { wait: true });
  await appendFile(log, `enter ${process.pid}\n`);
  await sleep(Math.random() * 5);
  await appendFile(log, `leave ${process.pid}\n`);
  await lock.release();
}
