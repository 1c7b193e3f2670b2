/**
 * The restore drill's last result, as `npm run drill` wrote it
 * (backup/drill.ts DrillResult): one check per stack that fails when the
 * file is missing or unreadable, when the drill failed, when it is another
 * environment's, or when it is older than the RPO it was run with (no drill
 * has proven a backup since).
 */
import { readFileSync } from "node:fs";
import type { DrillResult } from "../../backup/drill";
import type { CheckResult } from "./checks";

function read(file: string): { result?: DrillResult; error?: string } {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    return { error: `no drill result at ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): run npm run drill -- --stack <stack> --out ${file}, or fetch the drill job's artifact` };
  }
  try {
    const parsed = JSON.parse(text) as Partial<DrillResult>;
    if (typeof parsed.ok !== "boolean" || typeof parsed.env !== "string" || typeof parsed.checkedAt !== "string" || Number.isNaN(Date.parse(parsed.checkedAt)) || typeof parsed.rpoHours !== "number") {
      return { error: `${file} is not a drill result (expected ok, env, checkedAt and rpoHours)` };
    }
    return { result: parsed as DrillResult };
  } catch (e) {
    return { error: `${file} is not JSON: ${(e as Error).message}` };
  }
}

export function checkDrillResult(stack: string, env: string, file: string, now = new Date()): CheckResult {
  const base = { id: `backup.${stack}.drill`, stack, title: "the last restore drill passed within the RPO" };
  const { result, error } = read(file);
  if (!result) return { ...base, ok: false, evidence: error! };
  const ageHours = Math.round(((now.getTime() - Date.parse(result.checkedAt)) / 3_600_000) * 100) / 100;
  const facts = `drill of ${result.checkedAt} (${ageHours} h ago), snapshot ${result.snapshot ?? "none"}, backup age ${result.backupAgeHours ?? "?"} h, restore ${result.rtoSeconds ?? "?"} s`;
  const problems: string[] = [];
  if (result.env !== env) problems.push(`the result is environment ${result.env}'s, not ${env}'s`);
  if (!result.ok) problems.push(`the drill FAILED: ${result.problems.join("; ") || "no problem recorded"}`);
  if (ageHours > result.rpoHours) problems.push(`the drill is ${ageHours} h old, over the RPO of ${result.rpoHours} h: no drill has proven a backup since`);
  return { ...base, ok: problems.length === 0, evidence: problems.length === 0 ? facts : `${problems.join("; ")} (${facts})` };
}
