/**
 * Run `worker` over `items` with at most `concurrency` at a time; results keep the items'
 * order. Workers return their own outcomes; one that throws stops the pool from starting more
 * items, as does `signal`. Every started worker is awaited before the pool settles — nothing
 * keeps running after it returns — and then the first error is thrown.
 */
export async function runPool<T, R>(
  items: readonly T[],
  concurrency: number,
  worker: (item: T, index: number) => Promise<R>,
  signal?: AbortSignal,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed: { error: unknown } | null = null;
  const lanes = Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, async () => {
    while (next < items.length && !failed && !signal?.aborted) {
      const index = next++;
      try {
        results[index] = await worker(items[index] as T, index);
      } catch (error) {
        failed ??= { error };
      }
    }
  });
  await Promise.all(lanes);
  if (failed) throw (failed as { error: unknown }).error;
  signal?.throwIfAborted();
  return results;
}
