import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CallSlots } from '../../../src/runtime/call-slots.js';

describe('CallSlots', () => {
  it('fuzz: never more than max running, nor more than perPlugin for one plugin; every call is granted once the others give back', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 6 }), fc.array(fc.constantFrom('a', 'b', 'c'), { minLength: 1, maxLength: 40 }), async (max, calls) => {
        const perPlugin = Math.max(1, Math.ceil(max / 4));
        const slots = new CallSlots(max, perPlugin, 1000);
        const running = new Map<string, number>();
        let total = 0;
        let peak = 0;
        const done = calls.map(async (plugin) => {
          const release = await slots.acquire(plugin, 60_000, () => plugin);
          total++;
          running.set(plugin, (running.get(plugin) ?? 0) + 1);
          peak = Math.max(peak, total);
          expect(total).toBeLessThanOrEqual(max);
          expect(running.get(plugin)).toBeLessThanOrEqual(perPlugin);
          expect(slots.inFlight).toBeLessThanOrEqual(max);
          await new Promise((r) => setTimeout(r, Math.random() * 3));
          total--;
          running.set(plugin, running.get(plugin)! - 1);
          release();
          release(); // twice is once
        });
        await Promise.all(done);
        expect(slots.inFlight).toBe(0);
        expect(peak).toBeGreaterThan(0);
      }),
      { numRuns: 60 },
    );
  });

  it('past maxWaiting: CALLS_BUSY; a wait past its limit: CALL_TIMEOUT; waiters of a stuck plugin: refused', async () => {
    const slots = new CallSlots(1, 1, 1);
    const release = await slots.acquire('a', 1000, () => 'a.f');
    const waiting = slots.acquire('a', 50, () => 'a.f');
    await expect(slots.acquire('b', 1000, () => 'b.f')).rejects.toMatchObject({ code: 'CALLS_BUSY' });
    await expect(waiting).rejects.toMatchObject({ code: 'CALL_TIMEOUT' });
    const again = slots.acquire('a', 1000, () => 'a.f');
    slots.refuseWaiting('a', Object.assign(new Error('stuck'), { code: 'PLUGIN_STUCK' }) as never);
    await expect(again).rejects.toMatchObject({ code: 'PLUGIN_STUCK' });
    release();
    expect(slots.inFlight).toBe(0);
  });
});
