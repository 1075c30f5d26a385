// `npm audit --omit=dev`: fails on a high or critical advisory in what the
// browser runs. A registry without the audit endpoint (a mirror) is said
// plainly and does not fail the run: there is nothing to judge.
import { spawnSync } from 'node:child_process';

const r = spawnSync('npm', ['audit', '--omit=dev', '--json'], { encoding: 'utf8' });
let report;
try {
  report = JSON.parse(r.stdout);
} catch {
  console.log(`npm audit gave no report (exit ${r.status}): ${(r.stderr || r.stdout).trim().split('\n').pop()}`);
  process.exit(r.status === 0 ? 0 : 1);
}
// npm reports an unreachable audit endpoint as `error`, or (a 405 from a
// registry that only serves packages) as the bare HTTP failure.
const unavailable = report.error ?? (report.statusCode && !report.metadata ? report : null);
if (unavailable) {
  const why = report.message || unavailable.summary || unavailable.code || 'no answer';
  console.log(`npm audit: the registry has no audit service here (${why}); not checked`);
  process.exit(0);
}
const counts = report.metadata?.vulnerabilities ?? {};
console.log(`npm audit --omit=dev: ${JSON.stringify(counts)}`);
const bad = Object.entries(report.vulnerabilities ?? {}).filter(([, v]) => v.severity === 'high' || v.severity === 'critical');
for (const [name, v] of bad) console.log(`  ${v.severity}: ${name} ${v.range ?? ''}`);
process.exit(bad.length === 0 ? 0 : 1);
