import type { DriftReport } from '../drift/detect-drift.js';
import type { EnvironmentFingerprint } from '../env/fingerprint.js';
import { printable as escaped } from '../util/printable.js';
import type { Problem, VerifyReport } from '../verify/verify-plugins.js';

const describe = (f: EnvironmentFingerprint) => `${f.os.id} ${f.os.versionId}, ${f.arch}, ${f.libc.family} ${f.libc.version}`;

function problemLines(problems: readonly Problem[]): string[] {
  // Messages quote the plugin's and the image's own strings (symbol and library names): one line each, escaped.
  return problems.flatMap((p) => [`    - ${p.check}: ${escaped(p.message)}`, `      fix: ${escaped(p.fix)}`]);
}

export function formatVerify(report: VerifyReport): string {
  const lines = [`verify against ${escaped(report.image)} (${report.imageId.slice(0, 19)}): ${describe(report.fingerprint)}`];
  lines.push(
    report.environment.length === 0
      ? 'environment: matches the lockfile'
      : `environment: DIFFERS from the lockfile: ${report.environment.map((d) => `${d.field} ${d.expected} → ${d.actual}`).join(', ')}`,
  );
  lines.push(
    report.program
      ? `judged for the program ${escaped(report.program.path)} (${report.program.how}) and the ${report.program.libraries.length} libraries it loads first` +
          (report.program.unresolved.length > 0 ? ` (not found for it: ${escaped(report.program.unresolved.join(', '))})` : '')
      : 'judged for a program that loads nothing before the plugins (no Entrypoint/Cmd found; pass --loader-program PATH)',
  );
  if (report.fingerprint.libc.family === 'glibc') {
    lines.push(report.cpu
      ? `  on this engine's CPU (${report.cpu.hwcaps.length > 0 ? report.cpu.hwcaps.join(', ') : 'no glibc-hwcaps level'}${report.cpu.legacy.length > 0 ? `; legacy hwcaps dirs ${report.cpu.legacy.slice(0, 3).join(', ')}…` : ''}); a deploy machine with another CPU may pick other hwcaps libraries`
      : '  CPU-dependent rules (glibc-hwcaps, x86 ISA level) not judged: the image\'s loader could not say');
  }
  lines.push(
    report.opens.how === 'by path'
      ? `  which opens each plugin by path ($ORIGIN = ${report.opens.origin})`
      : '  which opens a sealed copy of each plugin, as the host runtimes do ($ORIGIN = /proc/self/fd; --loads-by-path if it opens the deployed file)',
  );
  if (report.real) {
    lines.push(report.real.program ? `really loaded in a throwaway container of the image by ${escaped(report.real.program)}` : `NOT really loaded (every answer below is the model's prediction): ${escaped(report.real.reason ?? 'no loading program')}`);
  }
  for (const p of report.plugins) {
    const load = p.answer === 'proven'
      ? { unknown: 'load unknown', loads: 'LOADED (proven)', fails: 'did NOT load (proven)', crashes: 'CRASHED the loading process (proven)' }[p.outcome]
      : { unknown: 'load unknown', loads: 'loads', fails: 'would NOT load', crashes: 'would CRASH the loading process' }[p.outcome] + (p.answer === 'predicted' ? ' (predicted)' : '');
    lines.push(`  ${p.name.padEnd(16)} ${p.problems.length === 0 ? 'ok' : 'PROBLEMS'}  bytes ${p.bytes}, ${load}`);
    lines.push(...problemLines(p.problems));
    if (p.model?.disagrees) {
      lines.push(`    MODEL_DISAGREES: the model predicted "${p.model.outcome}"; the real load wins (a model bug: please report it)`);
      lines.push(...p.model.problems.map((m) => `      model said: ${m.check}: ${escaped(m.message)}`));
    }
    lines.push(...p.notes.map((n) => `    note: ${escaped(n)}`));
  }
  const bad = report.plugins.filter((p) => p.problems.length > 0).length;
  lines.push(`${report.plugins.length} plugin(s), ${bad} with problems`, '');
  return lines.join('\n');
}

const HEADLINE: Record<DriftReport['outcome'], string> = {
  'no-drift': 'no drift: same image, same environment',
  benign: 'benign drift: the image changed, its environment fingerprint did not',
  breaking: 'BREAKING drift: the environment changed; the host runtime will refuse every plugin until rebuilt',
};

export function formatDrift(report: DriftReport): string {
  const headline = report.outcome === 'breaking' && report.differences.length === 0 ? 'BREAKING drift: the environment fingerprint is the same, but plugins did not load in this image (a real load)' : HEADLINE[report.outcome];
  const lines = [`drift of ${escaped(report.image)}: ${headline}`];
  if (report.real) lines.push(report.real.program ? `  really loaded by ${escaped(report.real.program)}` : `  not really loaded (answers are predicted): ${escaped(report.real.reason ?? '')}`);
  const digest = report.repoDigest;
  if (digest.locked !== digest.current && digest.current !== null) lines.push(`  repo digest: ${digest.locked ?? '(none locked)'} → ${digest.current}`);
  if (report.imageId.locked !== report.imageId.current) lines.push(`  image ID: ${report.imageId.locked} → ${report.imageId.current}`);
  if (!report.pulled && report.outcome === 'no-drift' && digest.current !== null) lines.push(`  (the engine's copy; --pull compares with what the registry serves for ${report.image} now)`);
  for (const d of report.differences) lines.push(`  ${d.field}: ${d.expected} → ${d.actual}`);
  if (report.outcome === 'breaking') {
    lines.push('plugins to rebuild:');
    for (const p of report.plugins.filter((x) => x.mustRebuild)) {
      const proven = p.answer === 'proven' ? ' (proven by a real load)' : p.answer === 'predicted' ? ' (predicted)' : '';
      const load = (p.stillLoads === null ? 'artifact not found, load unknown' : p.outcome === 'crashes' ? 'its current bytes would CRASH the loading process' : p.stillLoads ? 'its current bytes would still load' : 'its current bytes would NOT load') + proven;
      lines.push(`  ${p.name.padEnd(16)} ${load}`);
      lines.push(...problemLines(p.problems));
    }
  }
  lines.push('');
  return lines.join('\n');
}
