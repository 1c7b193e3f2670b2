/**
 * The retention policy, as restic's `forget --keep-daily/weekly/monthly`
 * applies it (restic internal/restic/snapshot_policy.go): walking snapshots
 * newest first, each rule keeps a snapshot whose day (ISO week, month) differs
 * from the last one that rule kept, until its count is used up. One snapshot
 * may be kept by several rules. Used to say what a `forget` will drop before it
 * runs, and checked against a real restic run in the tests.
 */
export interface Retention {
  daily: number;
  weekly: number;
  monthly: number;
}

export const DEFAULT_RETENTION: Retention = { daily: 7, weekly: 4, monthly: 6 };

export type RetentionRule = keyof Retention;

function isoWeek(t: Date): string {
  // ISO 8601: the week belongs to the year of its Thursday.
  const d = new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate()));
  const day = d.getUTCDay() || 7;
  d.setUTCDate(d.getUTCDate() + 4 - day);
  const yearStart = Date.UTC(d.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((d.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${d.getUTCFullYear()}-W${week}`;
}

/** Bucket keys in UTC: the backup container runs with TZ unset, which restic reads as UTC. */
const BUCKETS: Record<RetentionRule, (t: Date) => string> = {
  daily: (t) => t.toISOString().slice(0, 10),
  weekly: isoWeek,
  monthly: (t) => t.toISOString().slice(0, 7),
};

export interface Kept {
  time: Date;
  reasons: RetentionRule[];
}

/** The snapshots the policy keeps, newest first, each with the rules that keep it. */
export function applyRetention(times: Date[], policy: Retention): Kept[] {
  const sorted = [...times].sort((a, b) => b.getTime() - a.getTime());
  const state = (Object.keys(BUCKETS) as RetentionRule[]).map((rule) => ({ rule, left: policy[rule], last: "" }));
  const kept: Kept[] = [];
  for (const time of sorted) {
    const reasons: RetentionRule[] = [];
    for (const s of state) {
      if (s.left <= 0) continue;
      const bucket = BUCKETS[s.rule](time);
      if (bucket !== s.last) {
        s.last = bucket;
        s.left -= 1;
        reasons.push(s.rule);
      }
    }
    if (reasons.length > 0) kept.push({ time, reasons });
  }
  return kept;
}

export const forgetArgs = (policy: Retention) => [
  "--keep-daily", String(policy.daily),
  "--keep-weekly", String(policy.weekly),
  "--keep-monthly", String(policy.monthly),
];
