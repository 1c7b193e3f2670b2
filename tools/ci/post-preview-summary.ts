/**
 * Posts (or updates) one merge-request note summarising the previews of every
 * stack: creates, updates, replaces and deletes per stack, the changed
 * resources, the data-safety gate's verdict, and the diagram of each stack
 * whose topology the merge request changes (against the target branch's
 * docs/plan.md, a file the job fetches and names in $PO_TOPOLOGY_BASE).
 *
 *   npx tsx tools/ci/post-preview-summary.ts qual=preview-qual.json prod=preview-prod.json
 *
 * The note carries a hidden marker, so later pipelines of the same merge
 * request edit it instead of adding another. It talks to GitLab's REST API
 * (`/projects/:id/merge_requests/:iid/notes`) with a project access token in
 * $GITLAB_API_TOKEN, sent in the PRIVATE-TOKEN header. No Pulumi Cloud.
 */
import { existsSync, readFileSync } from "node:fs";
import { type PreviewDigest, countChanges, errorDiagnostics, listChanges, readPreviewFile, totalChanges } from "./preview-json";
import { dataIsProtected } from "../../config/data-protection";
import { describeBlocked, evaluateGate } from "./data-safety-gate";
import { changedTopologies, type TopologyChange } from "../docs";
import { PROJECT_DIR, runCli } from "../run-cli";
import { type FetchLike, type GitlabProject, gitlabCall, gitlabList } from "./gitlab-api";

export const MARKER = "<!-- portugal-odyssey:pulumi-preview-summary -->";
/** GitLab rejects notes over 1,000,000 characters; stay far below. */
const MAX_ROWS_PER_STACK = 100;

export interface StackPreview {
  stack: string;
  /**
   * The preview's exit code (the preview job writes it beside the digest, preview-<stack>.exit);
   * undefined when none was recorded. Anything but 0 is a failed preview, whatever the digest lists.
   */
  exitCode?: number;
  /** Undefined when the preview job produced no document (it failed before). */
  digest?: PreviewDigest;
  /** Why there is no digest. */
  missing?: string;
}

/** "passed" only for a recorded exit code of 0 (Pulumi's ExitSuccess, pkg/cmd/pulumi/cmd/exit_codes.go). */
const previewStatus = (p: StackPreview) =>
  p.exitCode === 0 ? ":white_check_mark: passed" : `:x: failed (${p.exitCode === undefined ? "no exit code" : `exit ${p.exitCode}`})`;

const escapeCell = (s: string) => s.replace(/\|/g, "\\|").replace(/\r?\n/g, " ");
const code = (s: string) => "`" + s.replace(/`/g, "'") + "`";

/**
 * `topologies`: the stacks whose topology this merge request changes, with their new diagram.
 * `projectDir`: where the stack files that say whether a stack's data is protected live.
 */
export function buildSummaryMarkdown(
  previews: StackPreview[],
  ctx: { pipelineUrl?: string; commitSha?: string; topologies?: TopologyChange[]; projectDir?: string } = {},
): string {
  const lines: string[] = [MARKER, "### Pulumi preview", ""];
  lines.push("| Stack | Preview | Create | Update | Replace | Delete | Unchanged | Data-safety gate |", "|---|---|---:|---:|---:|---:|---:|---|");
  const details: string[] = [];
  for (const p of previews) {
    if (!p.digest) {
      lines.push(`| ${p.stack} | ${previewStatus(p)} | – | – | – | – | – | :warning: no preview: ${escapeCell(p.missing ?? "missing")} |`);
      continue;
    }
    const counts = countChanges(p.digest);
    const gate = evaluateGate(p.digest, p.stack, dataIsProtected(ctx.projectDir ?? PROJECT_DIR, p.stack));
    const verdict = !gate.protected ? "not protected" : gate.blocked.length ? `:no_entry: blocked (${gate.blocked.length})` : ":white_check_mark: passed";
    if (p.exitCode !== 0) details.push(`:x: **${p.stack}**: the preview failed (${p.exitCode === undefined ? "no exit code was recorded" : `pulumi exited ${p.exitCode}`}); its counts are what Pulumi listed before it stopped.`);
    lines.push(`| ${p.stack} | ${previewStatus(p)} | ${counts.create} | ${counts.update} | ${counts.replace} | ${counts.delete} | ${counts.same} | ${verdict} |`);

    for (const b of gate.blocked) details.push(`:no_entry: **${p.stack}**: ${escapeCell(describeBlocked(b))}`);
    for (const e of errorDiagnostics(p.digest)) details.push(`:x: **${p.stack}** preview error: ${escapeCell(e)}`);

    const changes = listChanges(p.digest);
    if (changes.length) {
      details.push("", `<details><summary>${p.stack}: ${totalChanges(counts)} resource(s) change</summary>`, "");
      details.push("| Action | Name | Type | Because of |", "|---|---|---|---|");
      for (const c of changes.slice(0, MAX_ROWS_PER_STACK)) {
        details.push(`| ${c.action} | ${code(c.name)} | ${code(c.type)} | ${escapeCell(c.reasons.join(", "))} |`);
      }
      if (changes.length > MAX_ROWS_PER_STACK) details.push(`| … | ${changes.length - MAX_ROWS_PER_STACK} more | | |`);
      details.push("", "</details>");
    }
  }
  for (const t of ctx.topologies ?? []) {
    details.push("", `<details><summary>${t.stack}: the topology changes</summary>`, "", t.diagram, "", "</details>");
  }
  lines.push("", ...details);
  const footer = [ctx.commitSha ? `commit ${code(ctx.commitSha.slice(0, 12))}` : undefined, ctx.pipelineUrl ? `[pipeline](${ctx.pipelineUrl})` : undefined].filter(Boolean);
  if (footer.length) lines.push("", `<sub>${footer.join(" · ")}</sub>`);
  return lines.join("\n").replace(/\n{3,}/g, "\n\n") + "\n";
}

export type { FetchLike } from "./gitlab-api";

/** The project the note goes to (as gitlab-api addresses it, without the fetch) and its merge request. */
export type GitLabTarget = Omit<GitlabProject, "fetch"> & { mergeRequestIid: string };

export function targetFromEnv(env: NodeJS.ProcessEnv): GitLabTarget {
  const missing = ["CI_API_V4_URL", "CI_PROJECT_ID", "CI_MERGE_REQUEST_IID", "GITLAB_API_TOKEN"].filter((k) => !env[k]);
  if (missing.length) throw new Error(`missing ${missing.join(", ")} (the summary is posted from merge request pipelines only)`);
  return { apiUrl: env.CI_API_V4_URL!, project: env.CI_PROJECT_ID!, mergeRequestIid: env.CI_MERGE_REQUEST_IID!, token: env.GITLAB_API_TOKEN! };
}

/** Edits the note an earlier pipeline of the merge request posted (it carries MARKER), or posts one. */
export async function upsertSummaryNote(fetch: FetchLike, t: GitLabTarget, body: string): Promise<{ action: "created" | "updated"; id: number }> {
  const project = { ...t, fetch };
  const notes = `/merge_requests/${encodeURIComponent(t.mergeRequestIid)}/notes`;
  const all = await gitlabList<{ id: number; body?: string; system?: boolean }>(project, notes, { sort: "asc", order_by: "created_at" });
  const existing = all.find((n) => !n.system && typeof n.body === "string" && n.body.includes(MARKER));
  if (existing) {
    await gitlabCall(project, "PUT", `${notes}/${existing.id}`, { body });
    return { action: "updated", id: existing.id };
  }
  const created = await gitlabCall<{ id: number }>(project, "POST", notes, { body });
  return { action: "created", id: created.data!.id };
}

/** `qual=preview-qual.json` or `preview-qual.json` (stack taken from `preview-<stack>.json`). */
export function parseInputs(argv: string[]): Array<{ stack: string; file: string }> {
  if (!argv.length) throw new Error("usage: post-preview-summary <stack>=<preview.json> …");
  return argv.map((arg) => {
    const eq = arg.indexOf("=");
    if (eq > 0) return { stack: arg.slice(0, eq), file: arg.slice(eq + 1) };
    const m = /preview-([a-z][a-z0-9]*)\.json$/.exec(arg);
    if (!m) throw new Error(`cannot tell the stack of ${arg}; write <stack>=${arg}`);
    return { stack: m[1], file: arg };
  });
}

/** The exit code the preview job recorded beside `file` (preview-<stack>.exit); undefined when there is none. */
export function recordedExitCode(file: string): number | undefined {
  const path = file.replace(/\.json$/, "") + ".exit";
  if (!existsSync(path)) return undefined;
  const text = readFileSync(path, "utf8").trim();
  return /^[0-9]+$/.test(text) ? Number(text) : undefined;
}

export function loadPreviews(inputs: Array<{ stack: string; file: string }>): StackPreview[] {
  return inputs.map(({ stack, file }) => {
    const exitCode = recordedExitCode(file);
    if (!existsSync(file)) return { stack, exitCode, missing: `${file} was not produced (see the preview job's log)` };
    try {
      return { stack, exitCode, digest: readPreviewFile(file) };
    } catch (error) {
      return { stack, exitCode, missing: (error as Error).message };
    }
  });
}

export async function main(argv: string[], env: NodeJS.ProcessEnv, fetchFn: FetchLike, projectDir = PROJECT_DIR): Promise<number> {
  const previews = loadPreviews(parseInputs(argv));
  // The target branch's docs/plan.md, fetched by the job; without it there is nothing to compare with.
  const base = env.PO_TOPOLOGY_BASE;
  const topologies = base && existsSync(base) ? changedTopologies(previews.map((p) => p.stack), projectDir, readFileSync(base, "utf8")) : [];
  const body = buildSummaryMarkdown(previews, { pipelineUrl: env.CI_PIPELINE_URL, commitSha: env.CI_COMMIT_SHA, topologies, projectDir });
  console.log(body);
  const target = targetFromEnv(env);
  const { action, id } = await upsertSummaryNote(fetchFn, target, body);
  console.log(`preview summary ${action} as note ${id} on merge request !${target.mergeRequestIid}`);
  return 0;
}

if (require.main === module) runCli("post-preview-summary", () => main(process.argv.slice(2), process.env, fetch), 1);
