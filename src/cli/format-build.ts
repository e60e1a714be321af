import type { BuildEvent } from '../building/build-events.js';
import type { BuildReport } from '../building/build-report.js';
import { printable, printableLines } from '../util/printable.js';

const OUTPUT_TAIL_LINES = 40;

function tail(text: string, lines: number, totalBytes: number): string {
  const all = text.replace(/\s+$/, '').split('\n');
  const shown = all.slice(-lines);
  const cutBytes = totalBytes - Buffer.byteLength(text);
  const earlier = all.length > lines ? `${all.length - lines} earlier lines` : '';
  const cut = cutBytes > 0 ? `${formatBytes(cutBytes)} of output before that not kept` : '';
  const note = [earlier, cut].filter(Boolean).join('; ');
  return (note ? `  | … (${note})\n` : '') + shown.map((l) => `  | ${printableLines(l)}`).join('\n');
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  const units = ['KiB', 'MiB', 'GiB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** One readable stderr line per event; image build output only when debugging. */
export function formatBuildEvent(event: BuildEvent, debug: boolean): string | null {
  switch (event.type) {
    case 'step':
      return `• ${printable(event.message)}`;
    case 'image-output':
      return debug ? `  | ${printable(event.line)}` : null;
    case 'plugin-unchanged':
      return `  ${printable(event.name)}: unchanged (inputs and artifact match the lockfile)`;
    case 'plugin-progress':
      return `  ${printable(event.name)}: still building (${Math.round(event.seconds)} s)`;
    case 'plugin-start':
      return `  ${printable(event.name)} (${printable(event.kind)}): building…`;
    case 'plugin-built':
      return `  ${printable(event.name)}: built in ${event.seconds.toFixed(1)} s  ${event.sha256.slice(0, 16)}…  ${event.size} bytes`;
    case 'plugin-failed':
      return `  ${printable(event.name)}: FAILED after ${event.seconds.toFixed(1)} s — ${printable(event.reason)}\n${tail(event.output, OUTPUT_TAIL_LINES, event.outputBytes)}`;
  }
}

/** Columns padded to their widest cell, two spaces apart; a cell is one line, whatever it holds (a newline in a file name must not forge a row). */
export function table(cells: string[][]): string {
  const rows = cells.map((r) => r.map((cell) => printable(cell)));
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n');
}

const HEADLINE: Record<BuildReport['outcome'], string> = {
  built: 'Built',
  failed: 'Build FAILED: nothing was written',
  'check-passed': 'Check passed: every plugin rebuilt byte-identical to',
  'check-failed': 'Check FAILED: rebuilt plugins differ from',
};

/** The stdout summary: what was built, for which environment, where it went. */
export function formatBuildSummary(report: BuildReport): string {
  const multi = report.platforms !== undefined;
  const rows = [['plugin', ...(multi ? ['platform'] : []), 'kind', 'status', 'size', 'sha256', 'note']];
  for (const p of report.plugins) {
    rows.push([p.name, ...(multi ? [p.platform ?? '-'] : []), p.kind, p.status, p.size === undefined ? '-' : String(p.size), p.sha256 ? p.sha256.slice(0, 16) : '-', p.reason ?? '']);
  }
  const environments = report.platforms ?? [{ platform: null, host: report.host, builder: report.builder }];
  const headline =
    report.outcome === 'built' ? `Built ${report.plugins.length} plugin(s) into ${report.outDir}; lockfile ${report.lockfile}` :
    report.outcome === 'failed' ? `${HEADLINE.failed} (lockfile and ${report.outDir} untouched)` :
    `${HEADLINE[report.outcome]} ${report.lockfile}`;
  return [
    headline,
    ...environments.flatMap(({ platform, host, builder }) => {
      const env = host.fingerprint;
      return [
        ...(platform ? [`${platform}:`] : []),
        `host     ${host.image} (${host.imageId.slice(0, 19)})  ${env.os.id} ${env.os.versionId}, ${env.arch}, ${env.libc.family} ${env.libc.version}  ${host.fingerprintHash.slice(0, 19)}`,
        ...(host.repoDigest ? [`         ${host.repoDigest}`] : []),
        `builder  ${builder.image}  ${Object.entries(builder.toolchain).map(([k, v]) => `${k} ${v}`).join(', ')}`,
      ];
    }),
    ...(report.signature ? [`signed   ${report.signature.path} (key ${report.signature.keyId.slice(0, 16)}…)`] : []),
    ...(report.shard ? [`shard    ${report.shard.index}/${report.shard.count}: ${report.plugins.length} of ${report.shard.plugins.length} plugins; merge the shards' lockfiles with \`builder lock merge\``] : []),
    '',
    table(rows),
    '',
  ].join('\n');
}
