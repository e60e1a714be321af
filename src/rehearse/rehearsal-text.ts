import { printable } from '../util/printable.js';
import type { RehearsalReport, RehearsedPlugin } from './rehearse-host.js';

const HEADLINE: Record<RehearsalReport['outcome'], string> = {
  survives: 'every plugin loads in the candidate as locked',
  rebuilt: 'some plugins do not load in the candidate as locked; rebuilt for it, they do',
  broken: 'some plugins cannot be made to load in the candidate',
};

const VERDICT: Record<RehearsedPlugin['verdict'], string> = { survives: 'survives as locked', rebuilt: 'needs the rebuild (done, proven)', broken: 'CANNOT be made to load' };

/** Table cells are one line: newlines and pipes in a loader's message would break the table. */
const cell = (text: string) => printable(text).replace(/\|/g, '\\|').slice(0, 600);

function asLocked(p: RehearsedPlugin): string {
  const how = p.asLocked.answer === 'proven' ? 'real load' : 'predicted';
  const outcome = { loads: 'loads', fails: 'fails', crashes: 'crashes the process', unknown: 'unknown' }[p.asLocked.outcome];
  return `${outcome} (${how})${p.asLocked.modelDisagrees ? ', MODEL_DISAGREES' : ''}`;
}

function rebuilt(p: RehearsedPlugin): string {
  if (!p.rebuilt) return '—';
  return p.rebuilt.status === 'built' ? `built and proven${p.rebuilt.sha256 ? ` (${p.rebuilt.sha256.slice(0, 12)}…)` : ''}` : 'failed';
}

/** The markdown a CI job posts on the pull request that changes the host image. */
export function rehearsalMarkdown(report: RehearsalReport): string {
  const lines = [
    `### Host upgrade rehearsal: \`${cell(report.candidate)}\``,
    '',
    `**${HEADLINE[report.outcome]}.**`,
    '',
    report.environment.length === 0
      ? 'The candidate\'s environment fingerprint equals the lockfile\'s host.'
      : `Environment: ${report.environment.map((d) => `\`${cell(d.field)}\` ${cell(String(d.expected))} → ${cell(String(d.actual))}`).join(', ')} — the runtime needs a lockfile built for the candidate (\`builder build\` against it) before it loads anything there.`,
    '',
    report.realLoads?.program ? `Real loads by ${cell(report.realLoads.program)}.` : `No real load could run (${cell(report.realLoads?.reason ?? 'no loading program')}): the answers are the model's.`,
    '',
    '| plugin | as locked | rebuilt for the candidate | verdict | loader said |',
    '| --- | --- | --- | --- | --- |',
    ...report.plugins.map((p) => `| ${cell(p.name)} | ${asLocked(p)} | ${rebuilt(p)} | ${VERDICT[p.verdict]} | ${cell(p.rebuilt?.message ?? p.asLocked.message ?? '')} |`),
    '',
  ];
  if (report.lockOut) lines.push(`Rebuilt plugins are locked in \`${cell(report.lockOut)}\`.`, '');
  return lines.join('\n');
}

/** The terminal's view. */
export function rehearsalText(report: RehearsalReport): string {
  const lines = [`rehearsal of ${report.candidate} (${report.candidateImageId.slice(0, 19)}): ${HEADLINE[report.outcome]}`];
  if (report.environment.length > 0) lines.push(`  environment: ${report.environment.map((d) => `${d.field} ${d.expected} → ${d.actual}`).join(', ')}`);
  lines.push(report.realLoads?.program ? `  really loaded by ${report.realLoads.program}` : `  not really loaded (predicted): ${report.realLoads?.reason ?? ''}`);
  for (const p of report.plugins) {
    lines.push(`  ${p.name.padEnd(16)} ${VERDICT[p.verdict].padEnd(34)} as locked: ${asLocked(p)}; rebuilt: ${rebuilt(p)}`);
    const said = p.rebuilt?.message ?? p.asLocked.message;
    if (said) lines.push(`    ${printable(said)}`);
  }
  if (report.lockOut) lines.push(`rebuilt plugins locked in ${report.lockOut}`);
  return `${lines.join('\n')}\n`;
}
