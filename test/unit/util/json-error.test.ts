import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { describeJsonError } from '../../../src/util/json-error.js';

const errorOf = (text: string) => {
  try {
    JSON.parse(text);
  } catch (err) {
    return err;
  }
  return null;
};

describe('describeJsonError', () => {
  it('names git conflict markers and their line', () => {
    const text = '{\n  "a": 1,\n<<<<<<< HEAD\n  "b": 2\n=======\n  "b": 3\n>>>>>>> other\n}\n';
    expect(describeJsonError(text, errorOf(text))).toBe('git conflict markers at line 3 (<<<<<<<): the file is half of a merge');
  });

  it('turns a position into a line and column', () => {
    const text = '{\n  "a": 1,\n  "b" 2\n}';
    expect(describeJsonError(text, errorOf(text))).toMatch(/^not valid JSON at line 3, column 7: /);
  });

  it('fuzz: whatever the text, a one-paragraph description, and a line within the text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        const err = errorOf(text);
        if (!err) return;
        const described = describeJsonError(text, err);
        const line = /line (\d+)/.exec(described)?.[1];
        if (line) expect(Number(line)).toBeLessThanOrEqual(text.split('\n').length);
      }),
      { numRuns: 500 },
    );
  });
});
