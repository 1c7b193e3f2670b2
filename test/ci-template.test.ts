/**
 * The application-side template (ci/templates/release-to-qual.gitlab-ci.yml),
 * as an application project's pipeline includes it: gitlab-ci-local validates
 * the combined file and says which jobs run when; the job's script runs in bash
 * with stand-ins for git, npm and npx that log each call.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { SERVICE_NAMES } from "../catalog/services";
import { listJobs, type ListedJob } from "./harness/gitlab-ci-local";

const ROOT = join(__dirname, "..");
const TEMPLATE = join(ROOT, "ci", "templates", "release-to-qual.gitlab-ci.yml");
const SERVICES = SERVICE_NAMES.slice(0, 2).join(" ");

/** An application's pipeline: a build stage that pushes images, then the template. */
const APP_PIPELINE = `include:
  - local: release-to-qual.gitlab-ci.yml
stages: [build]
variables:
  PO_RELEASE_SERVICES: "${SERVICES}"
build-images:
  stage: build
  script: [echo build and push]
`;

// `include: local` reads the repository's tracked files, so the template sits beside the app's pipeline.
const listAppJobs = (variables: Record<string, string>): ListedJob[] =>
  listJobs({ ".gitlab-ci.yml": APP_PIPELINE, "release-to-qual.gitlab-ci.yml": readFileSync(TEMPLATE, "utf8") }, variables);

const running = (jobs: ListedJob[]) => jobs.filter((j) => j.when !== "never").map((j) => `${j.stage}:${j.name}`).sort();
const template = parse(readFileSync(TEMPLATE, "utf8")) as Record<string, any>;
const job = template["release-to-qual"];

describe("the release-to-qual template in an application's pipeline (gitlab-ci-local)", () => {
  test("a push to the default branch builds, then releases to qual in the last stage", () => {
    expect(running(listAppJobs({ CI_PIPELINE_SOURCE: "push", CI_COMMIT_BRANCH: "main", CI_DEFAULT_BRANCH: "main" }))).toEqual([".post:release-to-qual", "build:build-images"]);
  }, 60_000);

  test("merge requests and other branches build without releasing anything", () => {
    expect(running(listAppJobs({ CI_PIPELINE_SOURCE: "merge_request_event", CI_DEFAULT_BRANCH: "main" }))).toEqual(["build:build-images"]);
    expect(running(listAppJobs({ CI_PIPELINE_SOURCE: "push", CI_COMMIT_BRANCH: "feature/x", CI_DEFAULT_BRANCH: "main" }))).toEqual(["build:build-images"]);
  }, 60_000);
});

/**
 * Runs the job's script as the runner does, in `dir` (a builds folder the runner may keep between
 * jobs), with a stand-in curl that records its arguments and what it read on stdin, and answers as
 * GitLab's trigger API does. Any other tool the script calls would be missing from PATH.
 */
function runJob(env: Record<string, string>, dir = mkdtempSync(join(tmpdir(), "ci-template-")), status = 201) {
  const bin = join(dir, "..", `${dir.split("/").pop()}-bin`);
  const log = join(bin, "calls.log");
  mkdirSync(bin, { recursive: true });
  writeFileSync(
    join(bin, "curl"),
    `#!/bin/sh\nprintf '%s\\n' "$@" > "${log}"\necho "stdin:$(cat)" >> "${log}"\nout=""; prev=""; for a; do [ "$prev" = "--output" ] && out="$a"; prev="$a"; done\n` +
      `if [ ${status} -lt 300 ]; then echo '{"id":5,"web_url":"https://gitlab.example/portugal-odyssey/infra/-/pipelines/5"}' > "$out"; else echo '{"message":"400 Bad request - inputs: release_tag"}' > "$out"; exit 22; fi\n`,
  );
  chmodSync(join(bin, "curl"), 0o755);
  const base = {
    // Only the stand-in and the shell's own basics: no git, npm or node.
    PATH: `${bin}:/usr/bin:/bin`,
    ...template.variables,
    ...job.variables,
    PO_RELEASE_TAG: "4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f",
    CI_COMMIT_SHA: "4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f",
    CI_PIPELINE_URL: "https://gitlab.example/portugal-odyssey/platform/-/pipelines/77",
    CI_API_V4_URL: "https://gitlab.example/api/v4",
    PO_RELEASE_TRIGGER_TOKEN: "glptt-trigger-token-value",
    PO_RELEASE_SERVICES: SERVICES,
    ...env,
  };
  const run = spawnSync("sh", ["-e", "-c", job.script.join("\n")], { cwd: dir, env: base, encoding: "utf8" });
  const calls = spawnSync("cat", [log], { encoding: "utf8" }).stdout.trim().split("\n").filter(Boolean);
  rmSync(bin, { recursive: true, force: true });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr, calls, dir };
}

describe("the release-to-qual job's script", () => {
  test("asks the infra project's trigger API for the release, the token on stdin only, the request as pipeline inputs", () => {
    const run = runJob({});
    rmSync(run.dir, { recursive: true, force: true });
    expect(run.code).toBe(0);
    expect(run.calls).toContain("https://gitlab.example/api/v4/projects/portugal-odyssey%2Finfra/trigger/pipeline");
    expect(run.calls).toEqual(
      expect.arrayContaining([
        "token=<-",
        "ref=main",
        `inputs[release_services]=${SERVICES}`,
        "inputs[release_tag]=4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f",
        "inputs[release_commit]=4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f",
        "inputs[release_pipeline]=https://gitlab.example/portugal-odyssey/platform/-/pipelines/77",
        "inputs[release_via_mr]=false",
      ]),
    );
    expect(run.calls.filter((c) => c.includes("glptt-trigger-token-value"))).toEqual(["stdin:glptt-trigger-token-value"]);
    expect(run.stdout).toContain("https://gitlab.example/portugal-odyssey/infra/-/pipelines/5");
  });

  test("runs again in a builds folder a previous run left behind (runners that keep the workspace)", () => {
    const first = runJob({});
    const second = runJob({}, first.dir);
    rmSync(first.dir, { recursive: true, force: true });
    expect([first.code, second.code]).toEqual([0, 0]);
  });

  test("sends the services one space apart however the variable was written", () => {
    const [s1, s2] = SERVICES.split(" ");
    const run = runJob({ PO_RELEASE_SERVICES: `  ${s1}\n   ${s2} ` });
    rmSync(run.dir, { recursive: true, force: true });
    expect(run.calls).toContain(`inputs[release_services]=${s1} ${s2}`);
  });

  test("with PO_RELEASE_VIA_MR=true it asks for a merge request instead", () => {
    const run = runJob({ PO_RELEASE_VIA_MR: "true" });
    rmSync(run.dir, { recursive: true, force: true });
    expect(run.calls).toContain("inputs[release_via_mr]=true");
  });

  test("fails, showing GitLab's answer, when the infra project refuses the request", () => {
    const run = runJob({}, undefined, 400);
    rmSync(run.dir, { recursive: true, force: true });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain("400 Bad request - inputs: release_tag");
  });

  test("fails before calling anything when PO_RELEASE_TRIGGER_TOKEN is empty", () => {
    const run = runJob({ PO_RELEASE_TRIGGER_TOKEN: "" });
    rmSync(run.dir, { recursive: true, force: true });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain("PO_RELEASE_TRIGGER_TOKEN");
    expect(run.calls).toEqual([]);
  });

  test("the only credential the application project holds for it is the trigger token", () => {
    const text = readFileSync(TEMPLATE, "utf8");
    const used = new Set([...text.replace(/^#.*$/gm, "").matchAll(/\$\{?([A-Z_][A-Z0-9_]*)/g)].map((m) => m[1]));
    const own = new Set(Object.keys({ ...template.variables, ...job.variables }));
    // GitLab's predefined variables (CI_*) carry no credential of the infra project; CI_JOB_TOKEN is not used at all.
    expect([...used].filter((v) => !v.startsWith("CI_") && !own.has(v))).toEqual(["PO_RELEASE_TRIGGER_TOKEN"]);
    expect(used.has("CI_JOB_TOKEN")).toBe(false);
  });
});
