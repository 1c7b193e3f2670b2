/**
 * The pipeline cannot run here, so these tests check its structure: the file
 * as parsed YAML, and which jobs gitlab-ci-local (which also validates the file
 * against GitLab's schema) says each kind of pipeline runs.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";

const ROOT = join(__dirname, "..");
const CI_FILE = join(ROOT, ".gitlab-ci.yml");
const GCL = join(ROOT, "node_modules", ".bin", "gitlab-ci-local");

type Job = Record<string, any>;
const doc = parse(readFileSync(CI_FILE, "utf8"), { merge: true }) as Record<string, Job>;
const job = (name: string): Job => doc[name];

interface ListedJob {
  name: string;
  stage: string;
  when: string;
  allow_failure: boolean;
  needs?: Array<{ job: string; artifacts: boolean }>;
}

/**
 * Runs gitlab-ci-local --list-json on a copy of the file in an empty temp dir,
 * so it neither depends on this checkout's git state (it falls back when there
 * is no repository) nor leaves its state dir in the project.
 */
function listJobs(variables: Record<string, string>, content?: string): ListedJob[] {
  const dir = mkdtempSync(join(tmpdir(), "gcl-"));
  try {
    if (content === undefined) copyFileSync(CI_FILE, join(dir, ".gitlab-ci.yml"));
    else writeFileSync(join(dir, ".gitlab-ci.yml"), content);
    const args = ["--list-json", ...Object.entries(variables).flatMap(([k, v]) => ["--variable", `${k}=${v}`])];
    const out = execFileSync(process.execPath, [GCL, ...args], {
      cwd: dir,
      encoding: "utf8",
      env: { ...process.env, GCL_IGNORE_PREDEFINED_VARS: Object.keys(variables).join(","), FORCE_COLOR: "0" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    return JSON.parse(out.slice(out.indexOf("[")));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const running = (jobs: ListedJob[]) => jobs.filter((j) => j.when !== "never").map((j) => j.name).sort();

describe("pipelines per event (gitlab-ci-local)", () => {
  let mr: ListedJob[], main: ListedJob[], branch: ListedJob[], schedule: ListedJob[];
  beforeAll(() => {
    mr = listJobs({ CI_PIPELINE_SOURCE: "merge_request_event", CI_MERGE_REQUEST_IID: "7", CI_DEFAULT_BRANCH: "main" });
    main = listJobs({ CI_PIPELINE_SOURCE: "push", CI_COMMIT_BRANCH: "main", CI_DEFAULT_BRANCH: "main" });
    branch = listJobs({ CI_PIPELINE_SOURCE: "push", CI_COMMIT_BRANCH: "feature/x", CI_DEFAULT_BRANCH: "main" });
    schedule = listJobs({ CI_PIPELINE_SOURCE: "schedule", CI_COMMIT_BRANCH: "main", CI_DEFAULT_BRANCH: "main" });
  }, 60000);

  it("merge requests run lint, typecheck, tests, both previews in parallel and the summary, and deploy nothing", () => {
    expect(running(mr)).toEqual(["lint", "preview-summary", "preview: [prod]", "preview: [qual]", "test", "typecheck"]);
  });

  it("the MR summary runs even when a preview failed, after both previews", () => {
    const summary = mr.find((j) => j.name === "preview-summary")!;
    expect(summary.when).toBe("always");
    expect(summary.needs?.map((n) => [n.job, n.artifacts])).toEqual([["preview", true]]);
  });

  it("a push to the default branch checks, deploys and verifies qual, and offers prod (deploy and verify in one job) by hand", () => {
    expect(running(main)).toEqual(["deploy-prod", "deploy-qual", "lint", "test", "typecheck", "verify-qual"]);
    const byName = Object.fromEntries(main.map((j) => [j.name, j]));
    expect(byName["deploy-qual"].when).toBe("on_success");
    expect(byName["verify-qual"].when).toBe("on_success");
  });

  it("the prod deploy is manual, does not block the pipeline, and needs qual's deploy and verify", () => {
    const prod = main.find((j) => j.name === "deploy-prod")!;
    expect(prod.when).toBe("manual");
    expect(prod.allow_failure).toBe(true);
    expect(prod.needs?.map((n) => n.job).sort()).toEqual(["deploy-qual", "verify-qual"]);
  });

  it("gitlab-ci-local's schema check would catch a broken file (so the lists above come from a valid one)", () => {
    const broken = readFileSync(CI_FILE, "utf8").replace("resource_group: qual", "resource_group: [qual]");
    expect(() => listJobs({ CI_PIPELINE_SOURCE: "push" }, broken)).toThrow(/resource_group/);
  });

  it("a push to another branch runs nothing", () => {
    expect(running(branch)).toEqual([]);
  });

  it("the schedule runs only the drift checks, one per stack", () => {
    expect(running(schedule)).toEqual(["drift: [prod]", "drift: [qual]"]);
  });
});

/**
 * Runs a job's script lines as the runner does (one bash, errexit on), with
 * stand-ins for npm and npx that log every call. The stand-in preview exits
 * with PREVIEW_EXIT and writes its --json-out file only when told to, as
 * pulumi-cli does when Pulumi printed a digest; the gate exits with GATE_EXIT.
 */
function runScript(script: string[], preview: number, digest: boolean, gate: number) {
  const dir = mkdtempSync(join(tmpdir(), "ci-script-"));
  try {
    const bin = join(dir, "bin");
    const log = join(dir, "calls.log");
    mkdirSync(bin);
    writeFileSync(
      join(bin, "npm"),
      `#!/bin/sh\necho "npm $*" >> "${log}"\n[ "$2" = preview ] || exit 0\n` +
        `while [ $# -gt 0 ]; do if [ "$1" = --json-out ] && [ "$WRITE_DIGEST" = 1 ]; then echo '{}' > "$2"; fi; shift; done\nexit "$PREVIEW_EXIT"\n`,
    );
    writeFileSync(join(bin, "npx"), `#!/bin/sh\necho "npx $*" >> "${log}"\nexit "$GATE_EXIT"\n`);
    for (const tool of ["npm", "npx"]) chmodSync(join(bin, tool), 0o755);
    const env = { PATH: `${bin}:${process.env.PATH}`, STACK: "prod", PREVIEW_EXIT: String(preview), WRITE_DIGEST: digest ? "1" : "0", GATE_EXIT: String(gate) };
    const run = spawnSync("bash", ["-e", "-c", script.join("\n")], { cwd: dir, env, encoding: "utf8" });
    const calls = existsSync(log) ? readFileSync(log, "utf8").trim().split("\n") : [];
    return { code: run.status, calls, ran: (what: string) => calls.some((c) => c.includes(what)) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("job scripts (run in bash with stand-in npm and npx)", () => {
  it.each([
    ["fails but printed its digest: the gate still runs, the job fails with the preview's code", 255, true, 0, 255, true],
    ["fails and the gate blocks too: the gate runs and the job fails", 255, true, 1, 1, true],
    ["fails before printing a digest: no gate, the job fails with the preview's code", 255, false, 0, 255, false],
    ["passes but the gate blocks: the job fails", 0, true, 1, 1, true],
    ["passes and the gate passes: the job passes", 0, true, 0, 0, true],
  ])("preview job, when the preview %s", (_what, preview, digest, gate, code, gated) => {
    const run = runScript(job("preview").script, preview, digest, gate);
    expect(run.code).toBe(code);
    expect(run.ran('data-safety-gate.ts --stack prod preview-prod.json')).toBe(gated);
  });

  it.each([
    ["a refused preview whose digest the gate blocks", 255, true, 1],
    ["a refused preview the gate lets through", 255, true, 0],
    ["a clean preview the gate blocks", 0, true, 1],
  ])("deploy-prod names the data in %s, then stops before pulumi up", (_what, preview, digest, gate) => {
    const run = runScript(job("deploy-prod").script, preview, digest, gate);
    expect(run.code).not.toBe(0);
    expect(run.ran("data-safety-gate.ts --stack prod preview-prod.json")).toBe(true);
    expect(run.ran("npm run up")).toBe(false);
    expect(run.ran("npm run verify")).toBe(false);
  });

  it("deploy-prod deploys, writes the outputs and verifies when the preview and the gate pass", () => {
    const run = runScript(job("deploy-prod").script, 0, true, 0);
    expect(run.code).toBe(0);
    expect(run.calls.filter((c) => c.startsWith("npm"))).toEqual([
      "npm run preview -- --stack prod --json-out preview-prod.json",
      "npm run up -- --stack prod",
      "npm run outputs -- --stack prod --out outputs-prod.json",
      "npm run outputs -- --stack prod --dotenv --out deploy-prod.env",
      "npm run verify -- --stack prod --outputs outputs-prod.json --json-out verify-prod.json",
    ]);
  });
});

describe(".gitlab-ci.yml structure", () => {
  it("orders the stages check, preview, report, deploy qual, verify qual, deploy prod, drift", () => {
    expect(doc.stages).toEqual(["check", "preview", "report", "deploy-qual", "verify-qual", "deploy-prod", "drift"]);
  });

  it("only creates pipelines for merge requests, schedules and the default branch", () => {
    expect(doc.workflow.rules.map((r: Job) => r.if ?? `when:${r.when}`)).toEqual([
      '$CI_PIPELINE_SOURCE == "merge_request_event"',
      '$CI_PIPELINE_SOURCE == "schedule"',
      '$CI_PIPELINE_SOURCE == "push" && $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH',
      "when:never",
    ]);
  });

  it("previews both stacks with a parallel matrix through the npm script, then gates the data", () => {
    const preview = job("preview");
    expect(preview.parallel.matrix).toEqual([{ STACK: ["qual", "prod"] }]);
    expect(preview.script.join("\n")).toContain('npm run preview -- --stack "$STACK" --json-out "preview-$STACK.json"');
    expect(preview.script.join("\n")).toMatch(/data-safety-gate\.ts --stack "\$STACK" "preview-\$STACK\.json"/);
    expect(preview.artifacts.when).toBe("always");
  });

  it.each([
    ["deploy-qual", "qual", "qualification"],
    ["deploy-prod", "prod", "production"],
  ])("%s locks its stack, names its environment, takes the URL from a dotenv report and keeps the outputs", (name, stack, environment) => {
    const j = job(name);
    expect(j.resource_group).toBe(stack);
    expect(j.environment.name).toBe(environment);
    expect(j.environment.url).toBe("$ENVIRONMENT_URL");
    expect(j.artifacts.reports.dotenv).toBe(`deploy-${stack}.env`);
    expect(j.artifacts.paths).toContain(`outputs-${stack}.json`);
    expect(j.script).toContain(`npm run up -- --stack ${stack}`);
    expect(j.script).toContain(`npm run outputs -- --stack ${stack} --out outputs-${stack}.json`);
    expect(j.script).toContain(`npm run outputs -- --stack ${stack} --dotenv --out deploy-${stack}.env`);
  });

  it("verify-qual verifies with the deploy's outputs artifact", () => {
    const j = job("verify-qual");
    expect(j.script).toEqual(["npm run verify -- --stack qual --outputs outputs-qual.json --json-out verify-qual.json"]);
    expect(j.needs).toEqual([{ job: "deploy-qual", artifacts: true }]);
    expect(j.resource_group).toBe("qual");
  });

  it("prod is verified inside deploy-prod, after up and the outputs, because a failed allow-failure job satisfies needs", () => {
    expect(job("verify-prod")).toBeUndefined();
    const script: string[] = job("deploy-prod").script;
    const at = (line: string) => script.indexOf(line);
    expect(at("npm run verify -- --stack prod --outputs outputs-prod.json --json-out verify-prod.json")).toBe(script.length - 1);
    expect(at("npm run up -- --stack prod")).toBeGreaterThan(-1);
    expect(at("npm run outputs -- --stack prod --out outputs-prod.json")).toBeGreaterThan(at("npm run up -- --stack prod"));
    expect(at("npm run outputs -- --stack prod --dotenv --out deploy-prod.env")).toBeGreaterThan(at("npm run up -- --stack prod"));
    // Nothing else may wait on deploy-prod: it would run after a failed prod deploy.
    const waiting = Object.entries(doc).filter(([, j]) => Array.isArray(j?.needs) && j.needs.some((n: Job | string) => (typeof n === "string" ? n : n.job) === "deploy-prod"));
    expect(waiting.map(([name]) => name)).toEqual([]);
  });

  it("keeps every preview, drift, outputs and verify document as an artifact only developers can open", () => {
    const documents = /^(preview|drift|outputs|verify)-[^/]+\.json$/;
    const holders = Object.entries(doc)
      .filter(([, j]) => (j?.artifacts?.paths ?? []).some((p: string) => documents.test(p)))
      .map(([name, j]) => [name, j.artifacts.access]);
    expect(holders).toEqual([
      ["preview", "developer"],
      ["deploy-qual", "developer"],
      ["verify-qual", "developer"],
      ["deploy-prod", "developer"],
      ["drift", "developer"],
    ]);
  });

  it("prod gates its own preview before pulumi up", () => {
    const script: string[] = job("deploy-prod").script;
    const gate = script.findIndex((l) => l.includes("data-safety-gate.ts --stack prod"));
    expect(gate).toBeGreaterThan(-1);
    expect(gate).toBeLessThan(script.indexOf("npm run up -- --stack prod"));
  });

  it("prod does not inherit qual's dotenv variables", () => {
    expect(job("deploy-prod").needs.every((n: Job) => n.artifacts === false)).toBe(true);
  });

  it("the drift check runs the refreshing preview for each stack", () => {
    expect(job("drift").parallel.matrix).toEqual([{ STACK: ["qual", "prod"] }]);
    expect(job("drift").script).toEqual(['npm run drift -- --stack "$STACK" --json-out "drift-$STACK.json"']);
  });

  it("sets transpile-only, keeps PULUMI_HOME in the project and caches node_modules and plugins by package-lock.json", () => {
    expect(doc.variables.PULUMI_NODEJS_TRANSPILE_ONLY).toBe("true");
    expect(doc.variables.PULUMI_HOME).toBe("$CI_PROJECT_DIR/.pulumi-home");
    const caches: Job[] = job(".pulumi").cache;
    expect(caches).toEqual([
      { key: { prefix: "node-modules", files: ["package-lock.json"] }, paths: ["node_modules/"] },
      { key: { prefix: "pulumi-plugins", files: ["package-lock.json"] }, paths: [".pulumi-home/plugins/"] },
    ]);
  });

  it("loads the SSH key and known_hosts from file variables into an ssh-agent before any pulumi job", () => {
    const before: string[] = job(".pulumi").before_script;
    expect(before).toContain('eval "$(ssh-agent -s)" >/dev/null');
    expect(before.some((l) => l.includes('< "$SSH_PRIVATE_KEY" | ssh-add -'))).toBe(true);
    expect(before.some((l) => l.includes('"$SSH_KNOWN_HOSTS" ~/.ssh/known_hosts'))).toBe(true);
    for (const name of ["preview", "deploy-qual", "verify-qual", "deploy-prod", "drift"]) expect(job(name).extends).toBe(".pulumi");
  });

  it("installs the docker CLI only in the deploy jobs, which run the edge attachment's docker network connect", () => {
    const line = (job(".pulumi").before_script as string[]).find((l) => l.includes("PO_NEEDS_DOCKER_CLI"))!;
    for (const name of ["deploy-qual", "deploy-prod"]) expect(job(name).variables?.PO_NEEDS_DOCKER_CLI).toBe("true");
    for (const name of ["preview", "verify-qual", "drift"]) expect(job(name).variables?.PO_NEEDS_DOCKER_CLI).toBeUndefined();
    // Run the line with no docker on PATH and a stand-in apt-get that records what it was asked.
    const dir = mkdtempSync(join(tmpdir(), "ci-apt-"));
    try {
      writeFileSync(join(dir, "apt-get"), `#!/bin/bash\necho "$*" >> ${dir}/apt.log\n`, { mode: 0o755 });
      const run = (needs: string | undefined) =>
        spawnSync("/bin/bash", ["-e", "-c", line], { env: { PATH: dir, ...(needs ? { PO_NEEDS_DOCKER_CLI: needs } : {}) }, encoding: "utf8" });
      expect(run(undefined).status).toBe(0);
      expect(existsSync(join(dir, "apt.log"))).toBe(false);
      expect(run("true").status).toBe(0);
      expect(readFileSync(join(dir, "apt.log"), "utf8")).toMatch(/install .*docker\.io/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("never sets a secret in the file itself", () => {
    for (const key of ["PULUMI_CONFIG_PASSPHRASE", "PULUMI_BACKEND_URL", "GITLAB_API_TOKEN", "SSH_PRIVATE_KEY", "DOCKER_HOST", "DEPLOY_DOCKER_HOST"]) {
      expect(doc.variables).not.toHaveProperty(key);
    }
  });

  it("points only the Pulumi jobs at the shared host, and runs the tests against a docker-in-docker engine of their own", () => {
    const before: string[] = job(".pulumi").before_script;
    expect(before).toContain('export DOCKER_HOST="$DEPLOY_DOCKER_HOST"');
    const naming = Object.entries(doc)
      .filter(([, j]) => typeof j === "object" && j !== null && !Array.isArray(j))
      .filter(([, j]) => JSON.stringify({ ...j, extends: undefined }).includes("DEPLOY_DOCKER_HOST"))
      .map(([name]) => name);
    expect(naming).toEqual([".pulumi"]);
    expect(job("test").variables.DOCKER_HOST).toBe("tcp://docker:2375");
    expect(job("test").services).toEqual([{ name: expect.stringMatching(/^docker:\d+-dind$/), alias: "docker" }]);
    expect(job("test").script).toEqual(["bash .ci/docker.sh", "npm test"]);
  });

  it("no command prints a secret: no --show-secrets, no set -x, no echo of a secret variable, no debug trace", () => {
    const text = readFileSync(CI_FILE, "utf8");
    const commands = Object.values(doc)
      .filter((j): j is Job => typeof j === "object" && j !== null && !Array.isArray(j))
      .flatMap((j) => [...(j.before_script ?? []), ...(j.script ?? []), ...(j.after_script ?? [])]) as string[];
    expect(commands.length).toBeGreaterThan(10);
    for (const line of commands) {
      expect(line).not.toMatch(/--show-secrets/);
      expect(line).not.toMatch(/\bset\s+-[a-z]*x/);
      expect(line).not.toMatch(/\b(echo|printf|cat)\b[^|]*\$\{?(PULUMI_CONFIG_PASSPHRASE|GITLAB_API_TOKEN|PULUMI_BACKEND_URL|AWS_SECRET_ACCESS_KEY)/);
      expect(line).not.toMatch(/\bcat\s+"?\$SSH_PRIVATE_KEY/);
      expect(line).not.toMatch(/(^|[;&|]\s*)(env|printenv|export -p)\s*($|[;&|])/);
    }
    expect(text).not.toMatch(/CI_DEBUG_TRACE/);
  });
});
