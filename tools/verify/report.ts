/** The report for people: one line per check, then the isolation figures. */
import type { VerifyReport } from "./index";
import type { Counts } from "./isolation";

export function formatTable(report: VerifyReport, { color = false } = {}): string {
  const paint = (ok: boolean, s: string) => (color ? `\x1b[${ok ? 32 : 31}m${s}\x1b[0m` : s);
  const rows = report.checks.map((c) => [c.ok ? "PASS" : "FAIL", c.stack ?? "host", c.title, c.evidence]);
  const w = [0, 1, 2].map((i) => Math.max(...[["", "stack", "check"], ...rows].map((r) => r[i].length)));
  const lines = [
    `verify: ${report.stacks.join(", ")} on ${report.daemon.host} (Docker ${report.daemon.version})`,
    "",
    `${"".padEnd(w[0])}  ${"stack".padEnd(w[1])}  ${"check".padEnd(w[2])}  evidence`,
    ...rows.map((r, i) => `${paint(report.checks[i].ok, r[0].padEnd(w[0]))}  ${r[1].padEnd(w[1])}  ${r[2].padEnd(w[2])}  ${r[3]}`),
  ];
  if (report.isolation.length > 0) {
    const f = (c: Counts) => `${String(c.attempted).padStart(5)} ${String(c.succeeded).padStart(9)} ${String(c.expected).padStart(8)}`;
    lines.push("", "isolation (TCP connects from inside each container)", `stack  edge      kind                attempted succeeded expected`);
    for (const s of report.isolation) {
      const p = `${s.environment.padEnd(5)}  ${s.edgeMode.padEnd(8)}`;
      const rows: [string, Counts][] = [["cross-environment", s.crossEnvironment], ["neighbour", s.neighbour], ["dependency", s.dependency], ["total", s.total]];
      for (const [kind, counts] of rows) lines.push(`${p}  ${kind.padEnd(18)} ${f(counts)}`);
    }
  }
  const failed = report.checks.filter((c) => !c.ok).length;
  lines.push(
    "",
    paint(report.ok, report.ok ? `${report.checks.length} checks passed` : `${failed} of ${report.checks.length} checks FAILED: ${report.failed.join(", ")}`),
    `(${(report.durationMs / 1000).toFixed(1)} s)`,
  );
  return lines.join("\n");
}
