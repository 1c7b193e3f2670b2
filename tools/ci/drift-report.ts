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

/**
 * The exit codes of the Pulumi CLI a drift check reads (pkg/cmd/pulumi/cmd/exit_codes.go): a
 * refresh with --expect-no-changes that finds a change fails with NoChangesExpectedError, which
 * ExitCodeFor maps to ExitNoChanges (7); any other failure is another non-zero code (1 generic,
 * 3 authentication, 6 stack not found, 255 internal...).
 */
export const PULUMI_EXIT = { success: 0, changesFound: 7 } as const;

/** What a drift check found, and the exit code its job ends with: 0 no drift, 7 drift, anything else the check failed. */
export type DriftVerdict =
  | { status: "clean"; exitCode: 0 }
  | { status: "drift"; exitCode: 7; items: DriftItem[] }
  /** The refresh did not finish: whether the host drifted is unknown. `items`: what it found before it failed. */
  | { status: "failed"; exitCode: number; items: DriftItem[]; reason: string };

/** The verdict from the refresh's exit code and its digest (undefined when it printed none, with `why`). */
export function driftVerdict(exitCode: number, digest: PreviewDigest | undefined, why = "no JSON digest"): DriftVerdict {
  const items = digest ? findDrift(digest) : [];
  if (exitCode === PULUMI_EXIT.changesFound) {
    return { status: "drift", exitCode: 7, items: items.length ? items : [{ name: "(unlisted)", type: "", what: `Pulumi found changes (exit ${exitCode}) but listed none; run pulumi refresh --preview-only --diff to see them` }] };
  }
  if (exitCode !== PULUMI_EXIT.success) return { status: "failed", exitCode, items, reason: `pulumi refresh exited ${exitCode}${digest ? "" : ` (${why})`}` };
  // Exit 0 with --expect-no-changes means no change; a digest that lists one anyway is not waved through.
  if (!digest) return { status: "failed", exitCode: 1, items, reason: `pulumi refresh exited 0 without a usable digest (${why})` };
  return items.length ? { status: "drift", exitCode: 7, items } : { status: "clean", exitCode: 0 };
}

const describeItems = (items: DriftItem[]) => items.map((i) => `  - ${i.name}${i.type ? ` [${i.type}]` : ""}: ${i.what}`);

export function formatDrift(stack: string, v: DriftVerdict): string {
  switch (v.status) {
    case "clean":
      return `drift: stack ${stack} matches the Docker host; no drift.`;
    case "drift":
      return [`drift: stack ${stack}: DRIFT FOUND: ${v.items.length} resource(s) differ on the Docker host from the recorded state:`, ...describeItems(v.items)].join("\n");
    case "failed":
      return [
        `drift: stack ${stack}: DRIFT CHECK FAILED (${v.reason}); whether the host drifted is unknown.`,
        ...(v.items.length ? [`  found before it failed:`, ...describeItems(v.items)] : []),
      ].join("\n");
  }
}

export interface BehindMain {
  /** Commits on main since the deployed one; undefined when it cannot be told. */
  commits?: number;
  deployedCommit?: string;
  /** What the next deploy of main would do, one line per resource. */
  changes: string[];
  /** Why part of the report is missing. */
  notes: string[];
  /** The exit code of the preview of main: anything but 0 is a failed preview, whatever it listed. */
  previewExitCode: number;
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

export function behindMain(preview: PreviewDigest | undefined, commits: number | undefined, deployed: string | undefined, notes: string[] = [], previewExitCode = 0): BehindMain {
  return { commits, deployedCommit: deployed, changes: preview ? listChanges(preview).map(describeChange) : [], notes, previewExitCode: preview ? previewExitCode : previewExitCode || 1 };
}

export function formatBehindMain(stack: string, b: BehindMain): string {
  const commits = b.commits === undefined ? "an unknown number of commits" : `${b.commits} commit(s)`;
  const deployed = b.deployedCommit ? ` (deployed ${b.deployedCommit.slice(0, 12)})` : "";
  if (b.previewExitCode !== 0) {
    return [
      `behind main: the preview of main FAILED for stack ${stack} (pulumi preview exited ${b.previewExitCode}): the next deploy of main would fail or do more than listed; stack ${stack} is ${commits}${deployed} behind main`,
      ...(b.changes.length ? ["  listed before it failed:", ...b.changes.map((c) => `  - ${c}`)] : []),
      ...b.notes.map((n) => `  (${n})`),
    ].join("\n");
  }
  const head =
    b.commits === 0 && b.changes.length === 0
      ? `behind main (information): stack ${stack} is up to date with main.`
      : `behind main (information, never a failure): stack ${stack} is ${commits}${deployed} and ${b.changes.length} resource(s) behind main`;
  return [head, ...b.changes.map((c) => `  - ${c}`), ...b.notes.map((n) => `  (${n})`)].join("\n");
}
