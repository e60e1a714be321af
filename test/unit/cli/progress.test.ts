import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { BuildEvent } from '../../../src/building/build-events.js';
import { runCli } from '../../../src/cli/program.js';
import { builderStep, createProgress, progressMode } from '../../../src/cli/progress.js';

/** A terminal as far as the live area uses one: text, newlines, cursor up (ESC[nA) and erase below (ESC[J). */
class Screen {
  lines: string[] = [''];
  row = 0;
  write(text: string): void {
    const re = /\x1b\[(\d*)([AJ])|\n|[^\x1b\n]+/g;
    for (const m of text.matchAll(re)) {
      if (m[0] === '\n') {
        this.row++;
        if (this.row === this.lines.length) this.lines.push('');
      } else if (m[2] === 'A') {
        this.row = Math.max(0, this.row - Number(m[1] || 1));
      } else if (m[2] === 'J') {
        this.lines.splice(this.row + 1);
        this.lines[this.row] = '';
      } else {
        this.lines[this.row] += m[0];
      }
    }
  }
  text(): string[] {
    return this.lines.slice(0, this.row);
  }
}

describe('--progress', () => {
  it('auto is tty on a terminal (not in CI, not TERM=dumb), plain otherwise; a bad value is refused', () => {
    expect(progressMode(undefined, { env: {}, stderrIsTty: true })).toBe('tty');
    expect(progressMode('auto', { env: { CI: 'true' }, stderrIsTty: true })).toBe('plain');
    expect(progressMode('auto', { env: { TERM: 'dumb' }, stderrIsTty: true })).toBe('plain');
    expect(progressMode(undefined, { env: {}, stderrIsTty: false })).toBe('plain');
    expect(progressMode('quiet', { env: {}, stderrIsTty: true })).toBe('quiet');
    expect(() => progressMode('fancy', { env: {} })).toThrow(/--progress must be auto, tty, plain or quiet, got "fancy"/);
  });

  it('the CLI refuses a bad --progress with exit 2 before touching anything', async () => {
    let stderr = '';
    const code = await runCli(['build', '--progress', 'fancy', '-c', '/nonexistent/builder.config.json'], { cwd: '/', env: {}, stdout: () => {}, stderr: (t) => (stderr += t) });
    expect(code).toBe(2);
    expect(stderr).toMatch(/--progress must be|file not found/);
  });

  it("reads the engine's build steps", () => {
    expect(builderStep('Step 3/7 : RUN apt-get install -y gcc')).toBe('step 3/7 RUN apt-get install -y gcc');
    expect(builderStep(' ---> Running in 1234')).toBeNull();
  });

  it('plain: one line per event, the builder image as its steps, the rest of its output only with DEBUG', () => {
    let out = '';
    const { report } = createProgress('plain', (t) => (out += t), { debug: false });
    report({ type: 'image-output', line: 'Step 1/7 : FROM sha256:abc' });
    report({ type: 'image-output', line: ' ---> Running in 1234' });
    report({ type: 'step', message: 'builder image plugin-builder/builder:x built in 20.1 s (gcc)' });
    report({ type: 'plugin-built', name: 'greet', seconds: 0.5, sha256: 'a'.repeat(64), size: 10 });
    expect(out.split('\n')).toEqual(['• builder image: step 1/7 FROM sha256:abc', '• builder image plugin-builder/builder:x built in 20.1 s (gcc)', `  greet: built in 0.5 s  ${'a'.repeat(16)}…  10 bytes`, '']);
    let quiet = '';
    createProgress('quiet', (t) => (quiet += t), { debug: false }).report({ type: 'step', message: 'x' });
    expect(quiet).toBe('');
  });

  it('tty: a live area with each plugin building and the current builder step, done lines above it, nothing left of it after close', () => {
    let t = 0;
    const screen = new Screen();
    const progress = createProgress('tty', (s) => screen.write(s), { debug: false, now: () => t, columns: 60 });
    progress.report({ type: 'step', message: 'run abc on unix:///var/run/docker.sock' });
    progress.report({ type: 'image-output', line: 'Step 3/7 : RUN apt-get install -y --no-install-recommends gcc libc6-dev golang-go ccache' });
    expect(screen.text()).toEqual(['• run abc on unix:///var/run/docker.sock', '• builder image: step 3/7 RUN apt-get install -y --no-inst…']);
    progress.report({ type: 'step', message: 'builder image plugin-builder/builder:x built in 20.1 s (gcc)' });
    progress.report({ type: 'plugin-start', name: 'greet', kind: 'c' });
    progress.report({ type: 'plugin-start', name: 'shout', kind: 'go-c-shared' });
    t = 3_400;
    progress.report({ type: 'plugin-progress', name: 'shout', seconds: 3.4 });
    expect(screen.text()).toEqual([
      '• run abc on unix:///var/run/docker.sock',
      '• builder image plugin-builder/builder:x built in 20.1 s (gcc)',
      '  greet (c): building 3 s',
      '  shout (go-c-shared): building 3 s',
    ]);
    progress.report({ type: 'plugin-built', name: 'greet', seconds: 3.5, sha256: 'b'.repeat(64), size: 7 });
    expect(screen.text().slice(2)).toEqual([`  greet: built in 3.5 s  ${'b'.repeat(16)}…  7 bytes`, '  shout (go-c-shared): building 3 s']);
    progress.close();
    expect(screen.text()).toEqual(['• run abc on unix:///var/run/docker.sock', '• builder image plugin-builder/builder:x built in 20.1 s (gcc)', `  greet: built in 3.5 s  ${'b'.repeat(16)}…  7 bytes`]);
    progress.report({ type: 'step', message: 'after close' });
    expect(screen.text()).toHaveLength(3);
  });

  it('fuzz: whatever the events, after close a tty shows exactly the plain lines that are not transient (starts, still-building, steps)', () => {
    const name = fc.constantFrom('a', 'b', 'c');
    const event: fc.Arbitrary<BuildEvent> = fc.oneof(
      fc.record({ type: fc.constant('step' as const), message: fc.constantFrom('run x', 'builder image y built in 1 s', 'probe') }),
      fc.record({ type: fc.constant('image-output' as const), line: fc.constantFrom('Step 1/2 : RUN x', 'noise') }),
      fc.record({ type: fc.constant('plugin-start' as const), name, kind: fc.constant('c') }),
      fc.record({ type: fc.constant('plugin-progress' as const), name, seconds: fc.integer({ min: 0, max: 99 }) }),
      fc.record({ type: fc.constant('plugin-unchanged' as const), name }),
      fc.record({ type: fc.constant('plugin-built' as const), name, seconds: fc.constant(1), sha256: fc.constant('c'.repeat(64)), size: fc.constant(1) }),
    );
    fc.assert(
      fc.property(fc.array(event, { maxLength: 30 }), fc.integer({ min: 20, max: 200 }), (events, columns) => {
        const screen = new Screen();
        const tty = createProgress('tty', (s) => screen.write(s), { debug: false, columns, now: () => 0 });
        let plain = '';
        const lines = createProgress('plain', (s) => (plain += s), { debug: false });
        for (const e of events) {
          tty.report(e);
          lines.report(e);
        }
        tty.close();
        const permanent = plain.split('\n').filter((l) => l !== '' && !/building…$|still building|^• builder image: step/.test(l));
        expect(screen.text()).toEqual(permanent);
      }),
      { numRuns: 500 },
    );
  });
});
