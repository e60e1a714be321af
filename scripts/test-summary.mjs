// The test command's last line, from vitest's JSON report: "N passed, N failed". A skipped test
// is a test that did not run: under CI=true it fails the run, otherwise it is named loudly.
import { readFileSync } from 'node:fs';

let report;
try {
  report = JSON.parse(readFileSync(process.argv[2], 'utf8'));
} catch {
  console.log('0 passed, 1 failed');
  process.exit(1);
}
if (typeof report.numPassedTests !== 'number' || typeof report.numFailedTests !== 'number') {
  console.error('!!! the test report has no counts: treating the run as failed');
  console.log('0 passed, 1 failed');
  process.exit(1);
}
const skipped = [];
for (const file of report.testResults ?? []) {
  for (const test of file.assertionResults ?? []) {
    if (test.status !== 'passed' && test.status !== 'failed') skipped.push(`${file.name}: ${test.fullName}`);
  }
}
const ci = process.env.CI === 'true';
if (skipped.length > 0) {
  const banner = ci ? 'FAILED: tests were skipped under CI=true (a skip is a failure here)' : 'WARNING: tests were skipped — this run is not the whole suite';
  console.error(`\n!!! ${banner}: ${skipped.length}`);
  for (const name of skipped.slice(0, 50)) console.error(`!!!   ${name}`);
  if (skipped.length > 50) console.error(`!!!   … and ${skipped.length - 50} more`);
}
const failed = report.numFailedTests + (ci ? skipped.length : 0);
console.log(`${report.numPassedTests} passed, ${failed} failed${skipped.length > 0 ? `, ${skipped.length} skipped` : ''}`);
process.exit(failed > 0 || report.success === false ? 1 : 0);
