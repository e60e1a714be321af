/**
 * Both results once both have settled, or the first one's error: unlike Promise.all, nothing
 * is still running when the caller goes on to clean up.
 */
export async function settled<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  await Promise.allSettled([a, b]);
  return [await a, await b];
}
