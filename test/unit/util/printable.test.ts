import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { printable, printableLines } from '../../../src/util/printable.js';

const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\p{Cf}]/u;

describe('printable: the one escaper for text from outside', () => {
  it('escapes what a terminal would obey: ESC sequences, OSC 52, CR, newline, C1 CSI, bidi overrides', () => {
    expect(printable('a\u001b]52;c;cHduZWQ=\u0007b')).toBe('a\\x1b]52;c;cHduZWQ=\\x07b');
    expect(printable('\u001b[2J')).toBe('\\x1b[2J');
    expect(printable('ok\rWARN forged')).toBe('ok\\rWARN forged');
    expect(printable('p\np  skip  unchanged')).toBe('p\\np  skip  unchanged');
    expect(printable('\u009b2J')).toBe('\\x9b2J');
    expect(printable('abc\u202eexe.so')).toBe('abc\\u202eexe.so');
    // Format characters (Cf) hide or reorder text: the same escapes as Go's pluginhost.Printable.
    expect(printable('zw\u200bj\ufeff\u00ad\u{e0041}')).toBe('zw\\u200bj\\ufeff\\xad\\u{e0041}');
    expect(printable('plain text, ünïcödé, 漢字')).toBe('plain text, ünïcödé, 漢字');
    expect(printableLines('line 1\n\tindented\u001b[31m\r\nline 3')).toBe('line 1\n\tindented\\x1b[31m\\r\nline 3');
  });

  it('fuzz: no unsafe character survives; safe text is unchanged; lines stay lines', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.oneof(fc.constantFrom('\n', '\r', '\t', '\u001b', '\u0007', '\u009b', '\u202e', '\u2028', '\\', 'x'), fc.integer({ min: 0, max: 0x10ffff }).filter((c) => c < 0xd800 || c > 0xdfff).map((c) => String.fromCodePoint(c))), maxLength: 60 }), (text) => {
        const one = printable(text);
        expect(one).not.toMatch(UNSAFE);
        if (!UNSAFE.test(text)) expect(one).toBe(text);
        const lines = printableLines(text);
        expect(lines.split('\n').length).toBe(text.split('\n').length);
        expect(lines.replace(/[\n\t]/g, '')).not.toMatch(UNSAFE);
      }),
      { numRuns: 500 },
    );
  });
});
