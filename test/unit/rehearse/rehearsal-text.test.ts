import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { RehearsalReport } from '../../../src/rehearse/rehearse-host.js';
import { rehearsalMarkdown, rehearsalText } from '../../../src/rehearse/rehearsal-text.js';

const report = (message: string): RehearsalReport => ({
  outcome: 'broken',
  candidate: 'registry.example/host:2',
  candidateImageId: `sha256:${'a'.repeat(64)}`,
  environment: [{ field: 'libc.version', expected: '2.36', actual: '2.41' }],
  realLoads: { program: 'load-prober: dlopen(FILE, RTLD_NOW | RTLD_LOCAL)' },
  plugins: [
    { name: 'ok', verdict: 'survives', asLocked: { answer: 'proven', outcome: 'loads' } },
    { name: 'bad', verdict: 'broken', asLocked: { answer: 'proven', outcome: 'fails', message }, rebuilt: { status: 'failed', message } },
  ],
});

describe('the rehearsal report as markdown and text', () => {
  it('one table row per plugin, whatever the loader said (pipes, newlines, escapes)', () => {
    const md = rehearsalMarkdown(report('libx.so: cannot open | shared object\n| injected | row |\x1b[31m'));
    const rows = md.split('\n').filter((l) => l.startsWith('| '));
    expect(rows).toHaveLength(4);
    expect(rows[3]).toContain('cannot open \\| shared object');
    expect(md).not.toContain('\x1b');
    expect(md).toContain('`libc.version` 2.36 → 2.41');
  });

  it('property: any message keeps the table at header + separator + one row per plugin, and no control character reaches it', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 2000, unit: 'binary' }), (message) => {
        const md = rehearsalMarkdown(report(message));
        expect(md.split('\n').filter((l) => l.startsWith('| '))).toHaveLength(4);
        expect(/[\x00-\x09\x0b-\x1f\x7f]/.test(md)).toBe(false);
        expect(/[\x00-\x09\x0b-\x1f\x7f]/.test(rehearsalText(report(message)).replace(/\n/g, ''))).toBe(false);
      }),
    );
  });
});
