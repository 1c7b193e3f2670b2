/**
 * The infra side of a release request: the `release-request` job of .gitlab-ci.yml runs this in a
 * pipeline an application project started with its pipeline trigger token
 * (ci/templates/release-to-qual.gitlab-ci.yml). Nothing the requester sends is trusted but the
 * request itself (services, tag, commit, pipeline); everything else is this project's own:
 *
 * 1. Who asked: the short token of the trigger token that started this pipeline, as GitLab
 *    hands it to the job: the predefined variable CI_TRIGGER_SHORT_TOKEN (GitLab 17.0,
 *    gitlab-org/gitlab!149456; Gitlab::Ci::Variables::Builder sets it from the job's trigger,
 *    Ci::Trigger#short_token: the first four characters after the glptt- prefix), looked up in
 *    releases/requesters.yaml on main. The REST Jobs API has no such field (lib/api/entities/ci/
 *    job_basic.rb; gitlab-org/gitlab!149335 never landed), so it is not asked. Only a pipeline
 *    variable could override a predefined one, and gitlab:setup switches those off: GitLab refuses
 *    a trigger request that passes `variables[...]` (Gitlab::Ci::Pipeline::Chain::Build::Associations,
 *    "Insufficient permissions to set pipeline variables").
 * 2. What it may release: the catalog services whose `builtBy` is that project; `backup` never.
 * 3. The digests: each tag resolved in the service's repository with this project's own
 *    read-only registry login (registry.ts).
 * 4. The commit: only releases/<stack>.yaml, through the Commits API with `last_commit_id`
 *    (https://docs.gitlab.com/api/commits/#create-a-commit-with-multiple-files-and-actions):
 *    GitLab refuses the update when the file changed since it was read, and then the file is
 *    read again and only this request's pins are applied to it again. The job's resource_group
 *    already serialises every release; this keeps a human commit in between from being lost.
 *
 *   npx tsx tools/release/request.ts --stack qual --services "a b" --tag T --commit SHA --pipeline URL [--merge-request]
 *
 * Environment: CI_API_V4_URL, CI_PROJECT_ID, CI_PIPELINE_ID, CI_PIPELINE_SOURCE, CI_TRIGGER_SHORT_TOKEN, CI_DEFAULT_BRANCH, CI_SERVER_URL;
 * PO_RELEASE_API_TOKEN (the release credential, docs/releases.md); PO_RELEASE_REGISTRY_USER and
 * PO_RELEASE_REGISTRY_PASSWORD (a read_registry deploy token).
 * Exit 0 when committed (or nothing changed), 1 on a failure, 3 when the request is refused.
 */
import { parseArgs } from "node:util";
import { SERVICES, SERVICE_NAMES } from "../../catalog/services";
import { BACKUP_IMAGE, type Requesters, readRequesters, releaseEntrySchema, releaseFileName } from "../../config/release";
import { TAG_PATTERN } from "../../model/image-ref";
import { type FetchLike, type GitlabProject, GitlabApiError, gitlabCall } from "../ci/gitlab-api";
import { PROJECT_DIR, runCli } from "../run-cli";
import { resolvePins } from "./cli";
import { type ReleaseServices, manifestText, parseManifest } from "./manifest";
import type { RegistryLogin } from "./registry";

/** A request this project will not carry out; the message says why and what would be accepted. */
export class RequestRefused extends Error {}

/** What GitLab says about how this pipeline was started (predefined variables of the job). */
export interface PipelineTrigger {
  /** CI_PIPELINE_SOURCE: `trigger` for a pipeline a trigger token started. */
  source: string | undefined;
  /** CI_TRIGGER_SHORT_TOKEN: set only in such a pipeline. */
  shortToken: string | undefined;
}

/** The application project that asked: the one releases/requesters.yaml lists for the trigger token that started this pipeline. */
export function requesterProject(trigger: PipelineTrigger, requesters: Requesters): string {
  const short = trigger.shortToken;
  if (trigger.source !== "trigger" || !short) throw new RequestRefused("this pipeline was not started with a pipeline trigger token, so no application project asked for it");
  const projects = Object.entries(requesters).filter(([, r]) => r.trigger === short);
  if (projects.length !== 1) {
    throw new RequestRefused(`the trigger token ${short}… that started this pipeline is not listed in releases/requesters.yaml; a project may ask only with the token listed for it there`);
  }
  return projects[0][0];
}

/** The services `project` may release: each must be a catalog service it builds. None named means every one it builds. */
export function authorizedServices(project: string, requested: string[]): string[] {
  const builds: string[] = SERVICE_NAMES.filter((s) => SERVICES[s].builtBy === project);
  if (builds.length === 0) throw new RequestRefused(`${project} builds no catalog service (catalog/services.ts, builtBy), so it may release none`);
  if (requested.length === 0) return builds;
  const refused = requested.filter((s) => !builds.includes(s));
  if (refused.length) {
    const why = refused.includes(BACKUP_IMAGE) ? "; the backup image is built and released by this repository alone" : "";
    throw new RequestRefused(`${project} may release only the services it builds (${builds.join(", ")}); refused: ${refused.join(", ")}${why}`);
  }
  return [...new Set(requested)];
}

export interface CommitOptions {
  stack: string;
  /** The branch the manifest is read from and, without mergeRequestBranch, committed to. */
  branch: string;
  pins: ReleaseServices;
  message: string;
  /** Commit to this new branch (from `branch`) and open a merge request instead. */
  mergeRequestBranch?: string;
  /** Reads of the file, the first included. */
  attempts?: number;
  log?: (line: string) => void;
}

const CONFLICT = /has changed since you started editing it/i;

/** Commits the pins to the manifest, re-reading it and re-applying only these pins when another commit changed it first. */
export async function commitPins(gitlab: GitlabProject, o: CommitOptions): Promise<string> {
  const file = releaseFileName(o.stack);
  const attempts = o.attempts ?? 10;
  for (let attempt = 1; ; attempt++) {
    const { data } = await gitlabCall<{ content: string; last_commit_id: string }>(gitlab, "GET", `/repository/files/${encodeURIComponent(file)}?ref=${encodeURIComponent(o.branch)}`);
    const text = Buffer.from(data!.content, "base64").toString("utf8");
    const before = parseManifest(text, o.stack);
    const changed = Object.keys(o.pins)
      .sort()
      .filter((s) => JSON.stringify(before[s]) !== JSON.stringify(o.pins[s]));
    if (changed.length === 0) return `${file}: nothing changes (${Object.keys(o.pins).join(", ")} already pinned to these digests)`;
    const target = o.mergeRequestBranch ?? o.branch;
    try {
      const { data: commit } = await gitlabCall<{ id: string }>(gitlab, "POST", "/repository/commits", {
        branch: target,
        ...(o.mergeRequestBranch ? { start_branch: o.branch } : {}),
        commit_message: o.message,
        actions: [{ action: "update", file_path: file, content: manifestText(text, { ...before, ...o.pins }), last_commit_id: data!.last_commit_id }],
      });
      const what = `${changed.join(", ")} in ${file}`;
      if (!o.mergeRequestBranch) return `committed ${String(commit?.id).slice(0, 8)} to ${o.branch}: ${what}`;
      const { data: mr } = await gitlabCall<{ web_url: string }>(gitlab, "POST", "/merge_requests", {
        source_branch: target,
        target_branch: o.branch,
        title: o.message,
        remove_source_branch: true,
      });
      return `opened merge request ${mr?.web_url} for ${what}`;
    } catch (error) {
      if (!(error instanceof GitlabApiError && error.status === 400 && CONFLICT.test(error.message)) || attempt >= attempts) throw error;
      o.log?.(`${file} changed on ${o.branch} since it was read (another commit landed first); reading it again (${attempt + 1} of ${attempts})`);
    }
  }
}

export interface RequestInputs {
  stack: string;
  services: string[];
  tag: string;
  commit: string;
  pipeline: string;
  mergeRequest: boolean;
}

export function parseRequestArgs(argv: string[]): RequestInputs {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      stack: { type: "string" },
      services: { type: "string", default: "" },
      tag: { type: "string" },
      commit: { type: "string" },
      pipeline: { type: "string" },
      "merge-request": { type: "boolean", default: false },
    },
  });
  for (const flag of ["stack", "tag", "commit", "pipeline"] as const) if (!values[flag]) throw new RequestRefused(`--${flag} is required`);
  if (!TAG_PATTERN.test(values.tag!)) throw new RequestRefused(`tag ${values.tag} is not a Docker tag`);
  const entry = releaseEntrySchema.pick({ commit: true, pipeline: true }).safeParse({ commit: values.commit, pipeline: values.pipeline });
  if (!entry.success) throw new RequestRefused(entry.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`).join("; "));
  return {
    stack: values.stack!,
    services: values.services.split(/\s+/).filter(Boolean),
    tag: values.tag!,
    commit: values.commit!,
    pipeline: values.pipeline!,
    mergeRequest: values["merge-request"],
  };
}

export interface RequestContext {
  gitlab: GitlabProject;
  trigger: PipelineTrigger;
  pipelineId: string;
  defaultBranch: string;
  /** `https://gitlab.example.com`: the requester's pipeline must be one of its own there. */
  serverUrl: string;
  login: RegistryLogin | undefined;
  /** How the registry is reached (tests stand in for it); the global fetch otherwise. */
  registryFetch?: typeof fetch;
  projectDir: string;
  log: (line: string) => void;
}

/** The whole request: who asked, what it may release, the digests, the commit. Returns what was done. */
export async function handleRequest(inputs: RequestInputs, ctx: RequestContext): Promise<string> {
  const project = requesterProject(ctx.trigger, readRequesters(ctx.projectDir));
  const services = authorizedServices(project, inputs.services);
  // The building pipeline is recorded as the requester states it; it must at least be one of its own.
  const own = `${ctx.serverUrl.replace(/\/+$/, "")}/${project}/-/pipelines/`;
  if (!/^[0-9]+$/.test(inputs.pipeline) && !inputs.pipeline.startsWith(own)) {
    throw new RequestRefused(`pipeline ${inputs.pipeline} is not one of ${project}'s (${own}<id>)`);
  }
  ctx.log(`release request from ${project}: ${services.join(", ")} at tag ${inputs.tag} to ${inputs.stack}`);
  const pins = await resolvePins({ stack: inputs.stack, services, tag: inputs.tag, commit: inputs.commit, pipeline: inputs.pipeline }, ctx.projectDir, ctx.login, ctx.registryFetch);
  return commitPins(ctx.gitlab, {
    stack: inputs.stack,
    branch: ctx.defaultBranch,
    pins,
    message: `Release ${project}@${inputs.commit.slice(0, 8)} to ${inputs.stack} (${services.join(", ")})`,
    // Under the protected infra/* wildcard, so the merge request's pipeline previews it (docs/ci.md, Previews).
    mergeRequestBranch: inputs.mergeRequest ? `infra/release-${inputs.stack}-${ctx.pipelineId}` : undefined,
    log: ctx.log,
  });
}

export async function main(argv: string[], env = process.env, fetchFn: FetchLike = fetch, projectDir = PROJECT_DIR, registryFetch?: typeof fetch): Promise<number> {
  const needed = ["CI_API_V4_URL", "CI_PROJECT_ID", "CI_PIPELINE_ID", "CI_DEFAULT_BRANCH", "CI_SERVER_URL", "PO_RELEASE_API_TOKEN"];
  const missing = needed.filter((k) => !env[k]);
  if (missing.length) {
    process.stderr.write(`release-request: ${missing.join(", ")} not set (PO_RELEASE_API_TOKEN reaches only the release-request job; docs/releases.md)\n`);
    return 2;
  }
  try {
    const inputs = parseRequestArgs(argv);
    const { PO_RELEASE_REGISTRY_USER: username, PO_RELEASE_REGISTRY_PASSWORD: password } = env;
    const done = await handleRequest(inputs, {
      gitlab: { apiUrl: env.CI_API_V4_URL!, project: env.CI_PROJECT_ID!, token: env.PO_RELEASE_API_TOKEN!, fetch: fetchFn },
      trigger: { source: env.CI_PIPELINE_SOURCE, shortToken: env.CI_TRIGGER_SHORT_TOKEN },
      pipelineId: env.CI_PIPELINE_ID!,
      defaultBranch: env.CI_DEFAULT_BRANCH!,
      serverUrl: env.CI_SERVER_URL!,
      login: username && password ? { username, password } : undefined,
      registryFetch,
      projectDir,
      log: (line) => process.stdout.write(`${line}\n`),
    });
    process.stdout.write(`${done}\n`);
    return 0;
  } catch (error) {
    const refused = error instanceof RequestRefused;
    process.stderr.write(`release-request: ${refused ? "REFUSED: " : ""}${(error as Error).message}\n`);
    return refused ? 3 : 1;
  }
}

if (require.main === module) runCli("release-request", () => main(process.argv.slice(2)));
