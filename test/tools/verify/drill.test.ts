import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { DrillResult } from "../../../backup/drill";
import { stackBackupSettings } from "../../../backup/cli";
import { parseCliArgs } from "../../../tools/verify/cli";
import { checkDrillResult } from "../../../tools/verify/drill";
import { names } from "../../../model/naming";

const { env, backup } = stackBackupSettings("qual");
const now = new Date("2026-06-01T12:00:00Z");
const hoursBefore = (h: number) => new Date(now.getTime() - h * 3_600_000).toISOString();
const dir = mkdtempSync(join(tmpdir(), "verify-drill-"));

/** A result as `npm run drill` writes it (JSON.stringify of a DrillResult). */
function written(patch: Partial<DrillResult>): string {
  const result: DrillResult = {
    ok: true,
    env,
    snapshot: "1a2b3c4d",
    snapshotTime: hoursBefore(3),
    backupAgeHours: 2,
    rpoHours: backup.rpoHours,
    rtoSeconds: 12.5,
    problems: [],
    checkedAt: hoursBefore(1),
    ...patch,
  };
  const file = join(dir, `${Math.random().toString(36).slice(2)}-${names.drillResultFile("qual")}`);
  writeFileSync(file, JSON.stringify(result, null, 2));
  return file;
}

describe("verify reports the restore drill's last result", () => {
  it("passes a drill that passed within the stack's RPO, naming the snapshot and the restore time", () => {
    const check = checkDrillResult("qual", env, written({}), now);
    expect(check).toMatchObject({ id: "backup.qual.drill", stack: "qual", ok: true });
    expect(check.evidence).toContain("snapshot 1a2b3c4d");
    expect(check.evidence).toContain("restore 12.5 s");
  });

  it("fails when the result file is missing, naming the file and how to get one", () => {
    const missing = join(dir, "nowhere", names.drillResultFile("qual"));
    const check = checkDrillResult("qual", env, missing, now);
    expect(check.ok).toBe(false);
    expect(check.evidence).toContain(`no drill result at ${missing} (ENOENT)`);
  });

  it("fails when the file is not a drill result", () => {
    const file = join(dir, "garbage.json");
    writeFileSync(file, JSON.stringify({ hello: "world" }));
    expect(checkDrillResult("qual", env, file, now)).toMatchObject({ ok: false, evidence: expect.stringContaining("is not a drill result") });
    writeFileSync(file, "{ truncated");
    expect(checkDrillResult("qual", env, file, now)).toMatchObject({ ok: false, evidence: expect.stringContaining("is not JSON") });
  });

  it("fails a failed drill, quoting its problems", () => {
    const problem = "postgres table booking.public.bookings: 0 rows restored, manifest says 42";
    const check = checkDrillResult("qual", env, written({ ok: false, problems: [problem] }), now);
    expect(check.ok).toBe(false);
    expect(check.evidence).toContain(`the drill FAILED: ${problem}`);
  });

  it("fails a passed drill older than the RPO, and passes one just inside it", () => {
    const stale = checkDrillResult("qual", env, written({ checkedAt: hoursBefore(backup.rpoHours + 0.5) }), now);
    expect(stale.ok).toBe(false);
    expect(stale.evidence).toContain(`over the RPO of ${backup.rpoHours} h`);
    expect(checkDrillResult("qual", env, written({ checkedAt: hoursBefore(backup.rpoHours - 0.5) }), now).ok).toBe(true);
  });

  it("fails another environment's result given for this stack", () => {
    const check = checkDrillResult("qual", env, written({ env: `${env}x` }), now);
    expect(check.ok).toBe(false);
    expect(check.evidence).toContain(`environment ${env}x's, not ${env}'s`);
  });

  it("takes the file from --drill-result paired with --stack, or from PO_DRILL_RESULT for one stack", () => {
    expect(parseCliArgs(["--stack", "qual", "--stack", "prod", "--drill-result", "q.json", "--drill-result", "p.json"], {}).drillResults).toEqual({ qual: "q.json", prod: "p.json" });
    expect(parseCliArgs(["--stack", "qual"], { PO_DRILL_RESULT: "drill-qual.json" }).drillResults).toEqual({ qual: "drill-qual.json" });
    expect(parseCliArgs(["--stack", "qual"], {}).drillResults).toEqual({});
  });

  it("leaves PO_DRILL_RESULT out when verify checks other than exactly one --stack", () => {
    const env = { PO_DRILL_RESULT: "drill-qual.json" };
    expect(parseCliArgs(["--outputs", "qual.json"], env).drillResults).toEqual({});
    expect(parseCliArgs(["--stack", "qual", "--stack", "prod"], env).drillResults).toEqual({});
  });
});
