// A process opening one plugin store at a given instant, holding it a moment, logging
// enter/leave while it does (or "locked" when refused): no two holders may ever overlap.
import { appendFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { PluginStore } from '../../src/registry/plugin-store.js';

const [dir, log, startAt] = process.argv.slice(2) as [string, string, string];
await sleep(Math.max(0, Number(startAt) - Date.now()));
for (let i = 0; i < 5; i++) {
  let store: PluginStore;
  try {
    store = await PluginStore.open(dir, 1 << 20);
  } catch (err) {
    if ((err as { code?: string }).code !== 'STORE_LOCKED') throw err;
    await appendFile(log, `locked ${process.pid}\n`);
    await sleep(Math.random() * 20);
    continue;
  }
  await appendFile(log, `enter ${process.pid}\n`);
  await sleep(20 + Math.random() * 20);
  await appendFile(log, `leave ${process.pid}\n`);
  await store.close();
}
