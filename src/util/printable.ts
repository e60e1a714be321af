/**
 * The one place text from outside (file names, plugin and manifest strings, compiler output,
 * engine and registry messages, HTTP request data, parse errors) is made safe to print. A
 * terminal obeys what it is sent: ESC starts commands (`ESC[2J` clears the screen, OSC 52 writes
 * the clipboard), CR and a newline let a string forge a line of its own (`greet  skip
 * unchanged`, `WARN …`). Every C0 control, DEL, every C1 control (U+009B is a one-byte CSI), the
 * line and paragraph separators and the bidirectional overrides are written as visible escapes
 * (`\x1b`, `\n`, `\u202e`), so the text reads as what it is and never acts.
 */

// C0, DEL, C1; U+2028/2029 (line breaks to some readers); every format character (Unicode Cf:
// bidi marks, embeddings, overrides and isolates, zero-width characters, BOM, tag characters):
// they reorder or hide text. The Go runtime escapes the same set (pluginhost.Printable).
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\p{Cf}]/gu;
const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeChar(c: string): string {
  const named = NAMED[c];
  if (named !== undefined) return named;
  const code = c.codePointAt(0)!;
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : code <= 0xffff ? `\\u${code.toString(16).padStart(4, '0')}` : `\\u{${code.toString(16)}}`;
}

/** One line of outside text, every control character escaped (newlines too: it stays one line). */
export function printable(text: string): string {
  return text.replace(UNSAFE, escapeChar);
}

/**
 * Outside text of several lines (compiler output, an engine's log), kept as lines: each line
 * escaped, joined by real newlines. A tab is kept, as compilers indent with it. Lone CRs are
 * escaped like every other control.
 */
export function printableLines(text: string): string {
  return text
    .split('\n')
    .map((line) => line.replace(UNSAFE, (c) => (c === '\t' ? c : escapeChar(c))))
    .join('\n');
}

/**
 * A message of the tool's own that may carry outside text, printed under a label (`error: …`):
 * every line escaped, and every line after the first indented, so no line of it can stand at
 * the left margin and pass for one of the tool's own (`error:`, `fix:`, `WARN`).
 */
export function printableMessage(text: string): string {
  return printableLines(text)
    .split('\n')
    .map((line, i) => (i === 0 || line === '' || line.startsWith(' ') ? line : `  ${line}`))
    .join('\n');
}
