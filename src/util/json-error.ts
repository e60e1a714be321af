/**
 * Where a JSON text is broken, for a person: `line 12, column 3`. Node 20's JSON.parse says
 * `… at position N` (newer ones add the line); both are turned into a line. Git's conflict
 * markers are named as what they are, since that is the usual way a lockfile breaks.
 */
export function describeJsonError(text: string, err: unknown): string {
  const conflict = /^(<{7}|={7}|>{7})(?: |$)/m.exec(text);
  if (conflict) return `git conflict markers at line ${lineOf(text, conflict.index)} (${conflict[1]!.slice(0, 1).repeat(7)}): the file is half of a merge`;
  const message = err instanceof Error ? err.message : String(err);
  const position = /at position (\d+)/.exec(message);
  if (!position) return `not valid JSON: ${message}`;
  const offset = Number(position[1]);
  const line = lineOf(text, offset);
  const column = offset - text.lastIndexOf('\n', offset - 1);
  return `not valid JSON at line ${line}, column ${column}: ${message.replace(/ ?\(line \d+ column \d+\)/, '')}`;
}

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}
