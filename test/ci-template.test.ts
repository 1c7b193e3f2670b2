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

/** Runs the job's script as the runner does, with logging stand-ins; returns the calls and the exit code. */
function runJob(env: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), "ci-template-"));
  try {
    const bin = join(dir, "bin");
    const log = join(dir, "calls.log");
    mkdirSync(bin);
    // git clone makes the clone's folder; npm and npx record their arguments and whether a password reached them.
    writeFileSync(join(bin, "git"), `#!/bin/sh\necho "git $*" >> "${log}"\nfor a; do last="$a"; done\nmkdir -p "$last"\n`);
    for (const tool of ["npm", "npx"]) {
      writeFileSync(join(bin, tool), `#!/bin/sh\necho "${tool} $* [password:\${PO_REGISTRY_PASSWORD:+set}]" >> "${log}"\n`);
    }
    for (const tool of ["git", "npm", "npx"]) chmodSync(join(bin, tool), 0o755);
    const vars = { ...template.variables, ...job.variables };
    const base = {
      PATH: `${bin}:${process.env.PATH}`,
      ...vars,
      PO_RELEASE_TAG: "4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f",
      CI_COMMIT_SHA: "4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f",
      CI_COMMIT_SHORT_SHA: "4e5f6a7b",
      CI_PIPELINE_URL: "https://gitlab.example/po/platform/-/pipelines/77",
      CI_PROJECT_PATH: "portugal-odyssey/platform",
      CI_SERVER_HOST: "gitlab.example",
      CI_REGISTRY_USER: "gitlab-ci-token",
      CI_JOB_TOKEN: "job-token-value",
      PO_INFRA_TOKEN: "infra-token-value",
      PO_RELEASE_SERVICES: SERVICES,
      ...env,
    };
    const run = spawnSync("bash", ["-e", "-c", job.script.join("\n")], { cwd: dir, env: base, encoding: "utf8" });
    const calls = spawnSync("cat", [log], { encoding: "utf8" }).stdout.trim().split("\n").filter(Boolean);
    return { code: run.status, stderr: run.stderr, calls };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("the release-to-qual job's script", () => {
  test("clones the infra project, pins each listed service from the commit's tag with the job's registry login, and commits to main", () => {
    const run = runJob({});
    expect(run.code).toBe(0);
    const [s1, s2] = SERVICES.split(" ");
    expect(run.calls).toEqual([
      "git clone --quiet --depth 1 --branch main https://gitlab-ci-token:job-token-value@gitlab.example/portugal-odyssey/infra.git infra",
      "npm ci --no-audit --no-fund --loglevel=error [password:]",
      `npm run --silent release -- --stack qual --service ${s1} --service ${s2} --tag 4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f --commit 4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f --pipeline https://gitlab.example/po/platform/-/pipelines/77 [password:set]`,
      `npx tsx tools/release/publish.ts --stack qual --message Release portugal-odyssey/platform@4e5f6a7b to qual (${SERVICES}) [password:]`,
    ]);
    // The registry password reaches the release step through its environment only, never its arguments.
    expect(run.calls.filter((c) => c.startsWith("npm run")).join("\n")).not.toContain("job-token-value");
  });

  test("with PO_RELEASE_VIA_MR=true it opens a merge request instead of committing to main", () => {
    const run = runJob({ PO_RELEASE_VIA_MR: "true" });
    expect(run.code).toBe(0);
    expect(run.calls.at(-1)).toMatch(/^npx tsx tools\/release\/publish\.ts --stack qual --message .* --merge-request /);
  });

  test.each([
    ["PO_RELEASE_SERVICES", "set PO_RELEASE_SERVICES"],
    ["PO_INFRA_TOKEN", "PO_INFRA_TOKEN (a project access token"],
  ])("fails before cloning anything when %s is empty", (name, message) => {
    const run = runJob({ [name]: "" });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toContain(message);
    expect(run.calls).toEqual([]);
  });
});
