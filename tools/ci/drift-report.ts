/**
 * Drift: the Docker host no longer matches the recorded state. Read from the
 * digest of `pulumi refresh --preview-only --expect-no-changes --json` (run
 * by `npm run drift -- --stack S`), which compares the host with the state
 * without running the program, so a change merged to main but not yet
 * deployed is never drift.
 *
 * In that digest every resource starts as a `refresh` step; one whose read
 * differs from the state is rewritten to `update` (old = recorded, new = as
 * read, `diffReasons`/`detailedDiff` name the properties) and one that is gone
 * to `delete` (pkg/backend/display/json.go, ShowPreviewDigest, and
 * pkg/resource/deploy/step.go, RefreshStep.ResultOp). Those are the drift.
 *
 * What main would change but is not deployed yet ("behind main") is a
 * separate, informational report: see behindMain.
 */
import { type PreviewDigest, describeChange, listChanges, parseUrn } from "./preview-json";

export interface DriftItem {
  name: string;
  type: string;
  what: string;
}

export function findDrift(digest: PreviewDigest): DriftItem[] {
  const items = (digest.steps ?? [])
    .filter((step) => step.op === "update" || step.op === "delete")
    .map((step): DriftItem => {
      const { name, type } = parseUrn(step.urn);
      if (step.op === "delete") return { name, type, what: "deleted outside Pulumi" };
      const properties = [...new Set([...(step.diffReasons ?? []), ...Object.keys(step.detailedDiff ?? {})])].sort();
      return { name, type, what: `changed outside Pulumi: ${properties.length ? properties.join(", ") : "(Pulumi named no property)"}` };
    });
  // Pulumi rewrites a refresh step only when the provider gave a detailed diff;
  // its summary counts every change, so a change it did not list still fails.
  const unlisted = (digest.changeSummary?.update ?? 0) + (digest.changeSummary?.delete ?? 0) - items.length;
  if (unlisted > 0) {
    items.push({ name: "(unlisted)", type: "", what: `Pulumi counted ${unlisted} more changed or deleted resource(s) without listing them; run pulumi refresh --preview-only --diff to see them` });
  }
  return items;
}

export function formatDrift(stack: string, items: DriftItem[]): string {
  if (!items.length) return `drift: stack ${stack} matches the Docker host; no drift.`;
  return [`drift: stack ${stack} has DRIFTED: ${items.length} resource(s) differ on the Docker host from the recorded state:`, ...items.map((i) => `  - ${i.name}${i.type ? ` [${i.type}]` : ""}: ${i.what}`)].join("\n");
}

export interface BehindMain {
  /** Commits on main since the deployed one; undefined when it cannot be told. */
  commits?: number;
  deployedCommit?: string;
  /** What the next deploy of main would do, one line per resource. */
  changes: string[];
  /** Why part of the report is missing. */
  notes: string[];
}

/**
 * The deployed commit: `git.head` of the newest succeeded `update` in
 * `pulumi stack history --json` (pkg/cmd/pulumi/stack/stack_history.go,
 * updateInfoJSON: kind, result, environment; pkg/backend/updates.go: GitHead = "git.head").
 */
export function deployedCommit(history: unknown): string | undefined {
  if (!Array.isArray(history)) return undefined;
  const update = history.find((u) => u?.kind === "update" && u?.result === "succeeded" && typeof u?.environment?.["git.head"] === "string");
  return update?.environment["git.head"];
}

export function behindMain(preview: PreviewDigest | undefined, commits: number | undefined, deployed: string | undefined, notes: string[] = []): BehindMain {
  return { commits, deployedCommit: deployed, changes: preview ? listChanges(preview).map(describeChange) : [], notes };
}

export function formatBehindMain(stack: string, b: BehindMain): string {
  const commits = b.commits === undefined ? "an unknown number of commits" : `${b.commits} commit(s)`;
  const head =
    b.commits === 0 && b.changes.length === 0
      ? `behind main (information): stack ${stack} is up to date with main.`
      : `behind main (information, never a failure): stack ${stack} is ${commits}${b.deployedCommit ? ` (deployed ${b.deployedCommit.slice(0, 12)})` : ""} and ${b.changes.length} resource(s) behind main`;
  return [head, ...b.changes.map((c) => `  - ${c}`), ...b.notes.map((n) => `  (${n})`)].join("\n");
}
