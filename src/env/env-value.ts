/** The value of `name` in an image config's Env (`KEY=value` entries); null when unset. */
export function envValue(env: readonly string[], name: string): string | null {
  const entry = env.find((e) => e.startsWith(`${name}=`));
  return entry === undefined ? null : entry.slice(name.length + 1);
}
