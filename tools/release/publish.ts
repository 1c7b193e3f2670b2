/**
 * npx tsx tools/release/publish.ts --stack qual --message "…" [--merge-request]
 *
 * Run by the application-side CI template (ci/templates/release-to-qual.gitlab-ci.yml)
 * in a clone of this repository, after `npm run release` rewrote the manifest:
 * commits releases/<stack>.yaml to this project's default branch through the
 * GitLab API (Commits API, https://docs.gitlab.com/api/commits/#create-a-commit-with-multiple-files-and-actions),
 * or, with --merge-request, to a new branch with a merge request
 * (https://docs.gitlab.com/api/merge_requests/#create-mr).
 *
 * It refuses when main's manifest changed since the clone (another release got
 * there first): the commit carries the file's last commit ID, which GitLab
 * checks, and the job is simply retried.
 *
 * Environment: CI_API_V4_URL, PO_INFRA_PROJECT (this project's path),
 * PO_INFRA_TOKEN (a project access token of this project, scope api, role
 * Developer or above allowed to push to main), PO_INFRA_BRANCH (default main).
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { releaseFileName } from "../../config/release";
import { type FetchLike, type GitlabProject, gitlabCall } from "../ci/gitlab-api";
import { runCli } from "../run-cli";

export interface PublishOptions extends Omit<GitlabProject, "fetch"> {
  branch: string;
  stack: string;
  message: string;
  mergeRequest: boolean;
  /** The manifest as rewritten, and as it was in the clone. */
  content: string;
  original: string;
  fetch?: FetchLike;
}

export async function publish(o: PublishOptions): Promise<string> {
  const file = releaseFileName(o.stack);
  const project = { ...o, fetch: o.fetch ?? fetch };
  const call = async (method: string, path: string, body?: unknown) => (await gitlabCall<Record<string, unknown>>(project, method, path, body)).data ?? {};
  if (o.content === o.original) return `${file}: nothing changed, nothing committed`;
  const meta = await call("GET", `/repository/files/${encodeURIComponent(file)}?ref=${encodeURIComponent(o.branch)}`);
  if (meta.content_sha256 !== createHash("sha256").update(o.original).digest("hex")) {
    throw new Error(`${file} changed on ${o.branch} since this job cloned it; retry the job`);
  }
  const branch = o.mergeRequest ? `release/${o.stack}-${Date.now().toString(36)}` : o.branch;
  const commit = await call("POST", "/repository/commits", {
    branch,
    ...(o.mergeRequest ? { start_branch: o.branch } : {}),
    commit_message: o.message,
    actions: [{ action: "update", file_path: file, content: o.content, last_commit_id: meta.last_commit_id }],
  });
  if (!o.mergeRequest) return `committed ${String(commit.id).slice(0, 8)} to ${o.branch}: ${o.message}`;
  const mr = await call("POST", "/merge_requests", { source_branch: branch, target_branch: o.branch, title: o.message, remove_source_branch: true });
  return `opened merge request ${String(mr.web_url)}`;
}

export async function main(argv: string[], env = process.env): Promise<number> {
  const { values } = parseArgs({ args: argv, strict: true, options: { stack: { type: "string" }, message: { type: "string" }, "merge-request": { type: "boolean" } } });
  const missing = ["CI_API_V4_URL", "PO_INFRA_PROJECT", "PO_INFRA_TOKEN"].filter((k) => !env[k]);
  if (!values.stack || !values.message || missing.length > 0) {
    process.stderr.write(`publish: needs --stack and --message, and ${missing.join(", ") || "nothing else"} set\n`);
    return 2;
  }
  const file = releaseFileName(values.stack);
  try {
    const message = await publish({
      apiUrl: env.CI_API_V4_URL!,
      project: env.PO_INFRA_PROJECT!,
      token: env.PO_INFRA_TOKEN!,
      branch: env.PO_INFRA_BRANCH || "main",
      stack: values.stack,
      message: values.message,
      mergeRequest: values["merge-request"] ?? false,
      content: readFileSync(file, "utf8"),
      original: execFileSync("git", ["show", `HEAD:${file}`], { encoding: "utf8" }),
    });
    process.stdout.write(`${message}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`publish: ${(e as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) runCli("publish", () => main(process.argv.slice(2)));
