import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { runPool } from '../../../src/util/run-pool.js';

describe('runPool', () => {
  it('keeps order and the concurrency bound', async () => {
    let running = 0;
    let peak = 0;
    const out = await runPool([5, 1, 4, 2, 3], 2, async (n) => {
      peak = Math.max(peak, ++running);
      await sleep(n * 3);
      running--;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30]);
    expect(peak).toBe(2);
  });

  it('a thrown error starts nothing new, awaits what runs, then rejects with the first error', async () => {
    const started: number[] = [];
    const finished: number[] = [];
    const run = runPool([0, 1, 2, 3, 4], 2, async (n) => {
      started.push(n);
      if (n === 0) throw new Error('boom');
      await sleep(50);
      finished.push(n);
      return n;
    });
    await expect(run).rejects.toThrow('boom');
    // 0 failed at once while 1 ran: 2 may have started before the failure was seen, nothing after.
    expect(started.length).toBeLessThanOrEqual(3);
    expect(finished.sort()).toEqual(started.filter((n) => n !== 0).sort());
  });

  it('an aborted signal starts nothing new and rejects with its reason once the running work is done', async () => {
    const controller = new AbortController();
    const finished: number[] = [];
    const run = runPool(
      [0, 1, 2, 3],
      1,
      async (n) => {
        if (n === 1) controller.abort(new Error('stopped'));
        await sleep(20);
        finished.push(n);
        return n;
      },
      controller.signal,
    );
    await expect(run).rejects.toThrow('stopped');
    expect(finished).toEqual([0, 1]);
  });
});
