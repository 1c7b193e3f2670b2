/**
 * Writes the child pipeline that holds every per-stack job, one per stack
 * file (Pulumi.<stack>.yaml), for the event that started the pipeline:
 *
 *   merge_request_event: preview-<stack> for each stack, then preview-summary
 *   push (main):         deploy-<stack>: automatic stacks first, manual ones after all of them
 *   schedule:            drift-<stack> and drill-<stack> (the restore drill) for each stack
 *
 *   npx tsx tools/ci/stack-pipeline.ts --event "$CI_PIPELINE_SOURCE" --out stack-pipeline.yml
 *
 * The jobs extend the templates in .gitlab/stack-jobs.yml. A child pipeline's
 * CI_PIPELINE_SOURCE is `parent_pipeline`, so the event is decided here, not
 * by rules in the child (docs.gitlab.com/ci/pipelines/downstream_pipelines/,
 * https://gitlab.com/gitlab-org/gitlab/-/issues/386787). One more stack file is one more set of jobs.
 *
 * Every job that needs a person (a preview, a manual deploy) is a blocking manual job: the pipeline
 * shows it waiting, never green without it (docs/ci.md, "Who runs what").
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { type StackCiSettings, allStackCiSettings } from "../../config/gitlab-settings";
import { PROJECT_DIR, runCli } from "../run-cli";

export const EVENTS = ["merge_request_event", "push", "schedule"] as const;
export type PipelineEvent = (typeof EVENTS)[number];

export const TEMPLATES = ".gitlab/stack-jobs.yml";

type Job = Record<string, unknown>;

/**
 * The child's workflow. Without `workflow:rules` or job `rules`, every job keeps GitLab's default
 * `only: [branches, tags]` (Gitlab::Ci::Config::Entry::Processable#compose! drops that default only when
 * either is present, gitlab!21742). A child of a merge-request pipeline carries the merge request
 * (gitlab!23884), so it is no branch pipeline: it would get no jobs and fail the trigger with
 * "No stages / jobs for this pipeline" (gitlab#322012; docs.gitlab.com/ci/pipelines/downstream_pipelines,
 * "Run child pipelines with merge request pipelines"). This rule holds in every child, whatever the
 * parent's event: GitLab sets CI_PIPELINE_SOURCE to `parent_pipeline` in all of them.
 */
export const CHILD_WORKFLOW = { rules: [{ if: '$CI_PIPELINE_SOURCE == "parent_pipeline"' }] };

/**
 * A job a person starts, and without which the pipeline is not done: `allow_failure: false` keeps the
 * pipeline blocked until it runs and failed when it fails (docs.gitlab.com/ci/yaml/#allow_failure, a manual
 * job's default is true). On a protected environment only its deployers can start it
 * (Ci::ProcessBuildService#process makes a manual job playable without the environment check, which only
 * EE's #enqueue runs, once someone plays it; EE::Ci::DeployablePolicy lets no one else play it; gitlab#300784).
 */
const blockingManual = { when: "manual", allow_failure: false } as const;

const job = {
  preview: (s: StackCiSettings): Job => ({
    extends: ".preview",
    variables: { STACK: s.stack },
    environment: { name: s.environment, action: "prepare" },
    // It runs the merge request's program with the stack's credentials, root on the shared host: one of
    // the environment's deployers starts it, after reading the change.
    ...blockingManual,
  }),
  deploy: (s: StackCiSettings, automatic: StackCiSettings[]): Job => ({
    extends: ".deploy",
    variables: { STACK: s.stack, PO_NEEDS_DOCKER_CLI: "true" },
    // One lock per stack; `gitlab:setup` makes GitLab hand it out oldest first.
    resource_group: s.stack,
    environment: { name: s.environment, url: "$ENVIRONMENT_URL", deployment_tier: s.tier },
    ...(s.deploy === "automatic"
      ? { needs: [] }
      : {
          // Only once every automatic stack of this pipeline is deployed and verified;
          // its dotenv variables stay with it (artifacts: false).
          needs: automatic.map((a) => ({ job: `deploy-${a.stack}`, artifacts: false })),
          // main's pipeline is blocked until a person deploys this stack, and red when that deploy fails.
          ...blockingManual,
        }),
  }),
  drift: (s: StackCiSettings): Job => ({
    extends: ".drift",
    variables: { STACK: s.stack },
    // Never reads a half-applied update: the deploys hold the same lock.
    resource_group: s.stack,
    environment: { name: s.environment, action: "prepare" },
  }),
  drill: (s: StackCiSettings): Job => ({
    extends: ".drill",
    variables: { STACK: s.stack },
    // Its throwaway containers start on the host the deploys change: never beside a deploy of the stack.
    resource_group: s.stack,
    // `verify`: the stack's scoped credentials (the repository's among them) without counting as a deployment.
    environment: { name: s.environment, action: "verify" },
  }),
};

export function stackPipeline(event: PipelineEvent, stacks: StackCiSettings[]): Record<string, unknown> {
  if (stacks.length === 0) throw new Error("no Pulumi.<stack>.yaml in the project folder: there is nothing to preview, deploy or check");
  const jobs: Record<string, Job> = {};
  if (event === "merge_request_event") {
    for (const s of stacks) jobs[`preview-${s.stack}`] = job.preview(s);
    jobs["preview-summary"] = {
      extends: ".preview-summary",
      needs: stacks.map((s) => ({ job: `preview-${s.stack}`, artifacts: true })),
      // The target branch's docs/plan.md, whose generated diagrams the summary compares with the merge
      // request's own to show each stack whose topology changes; a target that cannot be fetched only means no diagram.
      variables: { PO_TOPOLOGY_BASE: "topology-base.md" },
      script: [
        'git fetch --quiet --depth=1 origin "$CI_MERGE_REQUEST_TARGET_BRANCH_NAME" && git show FETCH_HEAD:docs/plan.md > "$PO_TOPOLOGY_BASE" || rm -f "$PO_TOPOLOGY_BASE"',
        `npx tsx tools/ci/post-preview-summary.ts ${stacks.map((s) => `${s.stack}=preview-${s.stack}.json`).join(" ")}`],
    };
  } else if (event === "push") {
    const automatic = stacks.filter((s) => s.deploy === "automatic");
    for (const s of [...automatic, ...stacks.filter((s) => s.deploy === "manual")]) jobs[`deploy-${s.stack}`] = job.deploy(s, automatic);
  } else {
    for (const s of stacks) jobs[`drift-${s.stack}`] = job.drift(s);
    for (const s of stacks) jobs[`drill-${s.stack}`] = job.drill(s);
  }
  return { workflow: CHILD_WORKFLOW, include: [{ local: TEMPLATES }], ...jobs };
}

export function renderStackPipeline(event: PipelineEvent, projectDir: string): string {
  const stacks = allStackCiSettings(projectDir);
  return `# Generated by tools/ci/stack-pipeline.ts for a ${event} pipeline from ${stacks.map((s) => `Pulumi.${s.stack}.yaml`).join(", ")}.\n${stringify(stackPipeline(event, stacks), { lineWidth: 0 })}`;
}

export function main(argv: string[], projectDir = PROJECT_DIR): number {
  const { values } = parseArgs({ args: argv, strict: true, options: { event: { type: "string" }, out: { type: "string" } } });
  const event = values.event as PipelineEvent;
  if (!EVENTS.includes(event)) throw new Error(`--event must be one of ${EVENTS.join(", ")} (got ${values.event ?? "nothing"})`);
  const text = renderStackPipeline(event, projectDir);
  if (values.out) writeFileSync(values.out, text);
  else process.stdout.write(text);
  return 0;
}

if (require.main === module) runCli("stack-pipeline", () => main(process.argv.slice(2)));
