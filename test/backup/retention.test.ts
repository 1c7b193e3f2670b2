/** The retention policy, on 400 simulated days, and against restic's own `forget`. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { backupSchema } from "../../config/schema";
import { run } from "../../backup/exec";
import { applyRetention, forgetArgs, type RetentionRule } from "../../backup/retention";

const policy = backupSchema.parse({ repository: "/unused" }).retention;
const DAY = 86_400_000;
const nightly = (days: number, end = Date.UTC(2026, 10, 30, 2, 30)) => Array.from({ length: days }, (_, i) => new Date(end - i * DAY));
const perRule = (kept: ReturnType<typeof applyRetention>) =>
  Object.fromEntries((Object.keys(policy) as RetentionRule[]).map((rule) => [rule, kept.filter((k) => k.reasons.includes(rule)).length]));

test("400 nightly backups keep exactly the configured daily, weekly and monthly counts", () => {
  const kept = applyRetention(nightly(400), policy);
  expect(perRule(kept)).toEqual(policy);
  // The newest is always kept; the oldest kept is the monthly rule's last month.
  expect(kept[0].time).toEqual(nightly(1)[0]);
  const months = new Set(kept.filter((k) => k.reasons.includes("monthly")).map((k) => k.time.toISOString().slice(0, 7)));
  expect(months.size).toBe(policy.monthly);
});

test("a policy of other numbers keeps those numbers", () => {
  const other = { daily: policy.daily + 3, weekly: policy.weekly + 1, monthly: policy.monthly + 2 };
  expect(perRule(applyRetention(nightly(400), other))).toEqual(other);
});

test("restic's own forget keeps the same snapshots as the policy function", async () => {
  const dir = mkdtempSync(join(tmpdir(), "po-retention-"));
  const env = { ...process.env, RESTIC_REPOSITORY: join(dir, "repo"), RESTIC_PASSWORD: "test-restic-password-0000", TZ: "UTC" };
  try {
    await run(["restic", "init"], { env });
    writeFileSync(join(dir, "file"), "x");
    // Every 10th night over 400 days, and every night of the last 10: every rule has more candidates than it keeps.
    const all = nightly(400);
    const times = all.filter((_, i) => i < 10 || i % 10 === 0);
    for (const t of times) {
      await run(["restic", "backup", "--quiet", "--host", "h", "--time", t.toISOString().slice(0, 19).replace("T", " "), join(dir, "file")], { env });
    }
    await run(["restic", "forget", "--quiet", ...forgetArgs(policy)], { env });
    const left = (JSON.parse(await run(["restic", "snapshots", "--json"], { env })) as { time: string }[]).map((s) => Date.parse(s.time)).sort();
    const expected = applyRetention(times, policy).map((k) => k.time.getTime()).sort();
    expect(left).toEqual(expected);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 300_000);
