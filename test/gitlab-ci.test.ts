/**
 * The pipeline cannot run here, so these tests check its structure: the parent
 * file and the generated child pipelines as parsed YAML, and which jobs
 * gitlab-ci-local (which also validates each file against GitLab's schema)
 * says each kind of pipeline runs. Expected per-stack jobs come from the stack files.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { parsePipelineFile } from "../tools/ci/pipeline-file";
import { allStackCiSettings } from "../config/gitlab-settings";
import { BACKUP_REGISTRY_CREDENTIALS, BACKUP_REGISTRY_ENVIRONMENT, DEPLOY_CREDENTIALS, NOTES_TOKEN, desiredScopes, environmentPlan } from "../tools/ci/gitlab-setup";
import { RELEASE_CREDENTIALS, RELEASE_ENVIRONMENT, RELEASE_RESOURCE_GROUP } from "../tools/ci/release-setup";
import { EVENTS, type PipelineEvent, TEMPLATES, renderStackPipeline } from "../tools/ci/stack-pipeline";
import { names } from "../model/naming";
import { listJobs, type ListedJob } from "./harness/gitlab-ci-local";

const ROOT = join(__dirname, "..");
const CI_FILE = join(ROOT, ".gitlab-ci.yml");
const STACKS = allStackCiSettings(ROOT);
const AUTOMATIC = STACKS.filter((s) => s.deploy === "automatic").map((s) => s.stack);
const MANUAL = STACKS.filter((s) => s.deploy === "manual").map((s) => s.stack);

type Job = Record<string, any>;
const parseFile = (path: string) => parsePipelineFile(readFileSync(path, "utf8")) as Record<string, Job>;
const parent = parseFile(CI_FILE);
const templates = parseFile(join(ROOT, TEMPLATES));

const parentJobs = (variables: Record<string, string>, content = readFileSync(CI_FILE, "utf8")) => listJobs({ ".gitlab-ci.yml": content }, variables);
const childFiles = (event: PipelineEvent, projectDir = ROOT) => ({ ".gitlab-ci.yml": renderStackPipeline(event, projectDir), [TEMPLATES]: readFileSync(join(ROOT, TEMPLATES), "utf8") });
/** The variables GitLab gives a child of each kind of parent: CI_PIPELINE_SOURCE is always `parent_pipeline` (gitlab#386787); a merge request's child carries the merge request (gitlab!23884). */
const CHILD_OF: Record<PipelineEvent, Record<string, string>> = {
  merge_request_event: { CI_PIPELINE_SOURCE: "parent_pipeline", CI_MERGE_REQUEST_IID: "7", CI_MERGE_REQUEST_ID: "700", CI_DEFAULT_BRANCH: "main" },
  push: { CI_PIPELINE_SOURCE: "parent_pipeline", CI_COMMIT_BRANCH: "main", CI_DEFAULT_BRANCH: "main" },
  schedule: { CI_PIPELINE_SOURCE: "parent_pipeline", CI_COMMIT_BRANCH: "main", CI_DEFAULT_BRANCH: "main" },
};
const childJobs = (event: PipelineEvent, projectDir = ROOT) => listJobs(childFiles(event, projectDir), CHILD_OF[event]);
const running = (jobs: ListedJob[]) => jobs.filter((j) => j.when !== "never").map((j) => j.name).sort();
const sorted = (xs: string[]) => [...xs].sort();

const MAIN = { CI_PIPELINE_SOURCE: "push", CI_COMMIT_BRANCH: "main", CI_DEFAULT_BRANCH: "main" };
const MR = { CI_PIPELINE_SOURCE: "merge_request_event", CI_MERGE_REQUEST_IID: "7", CI_DEFAULT_BRANCH: "main" };

describe("pipelines per event (gitlab-ci-local), per-stack jobs derived from the stack files", () => {
  let mrProtected: ListedJob[], mrUnprotected: ListedJob[], main: ListedJob[], branch: ListedJob[], schedule: ListedJob[];
  let mrChild: ListedJob[], mainChild: ListedJob[], scheduleChild: ListedJob[];
  beforeAll(() => {
    mrProtected = parentJobs({ ...MR, PO_PROTECTED_PIPELINE: "true" });
    mrUnprotected = parentJobs(MR);
    main = parentJobs({ ...MAIN, PO_PROTECTED_PIPELINE: "true" });
    branch = parentJobs({ CI_PIPELINE_SOURCE: "push", CI_COMMIT_BRANCH: "feature/x", CI_DEFAULT_BRANCH: "main" });
    schedule = parentJobs({ CI_PIPELINE_SOURCE: "schedule", CI_COMMIT_BRANCH: "main", CI_DEFAULT_BRANCH: "main", PO_PROTECTED_PIPELINE: "true" });
    mrChild = childJobs("merge_request_event");
    mainChild = childJobs("push");
    scheduleChild = childJobs("schedule");
  }, 120000);

  it("an MR from a protected branch checks, and previews every stack in the child pipeline (each a blocking manual job a deployer starts), then posts the summary", () => {
    expect(running(mrProtected)).toEqual(["lint", "stack-pipeline", "stacks", "test", "typecheck"]);
    expect(running(mrChild)).toEqual(sorted([...STACKS.map((s) => `preview-${s.stack}`), "preview-summary"]));
    for (const s of STACKS) expect(mrChild.find((j) => j.name === `preview-${s.stack}`)).toMatchObject({ when: "manual", allow_failure: false });
    const summary = mrChild.find((j) => j.name === "preview-summary")!;
    expect(summary.when).toBe("always");
    expect(summary.needs?.map((n) => [n.job, n.artifacts])).toEqual(STACKS.map((s) => [`preview-${s.stack}`, true]));
  });

  it("an MR without protected variables runs the checks and one job that says why there is no preview, and nothing that needs credentials", () => {
    expect(running(mrUnprotected)).toEqual(["lint", "preview-unavailable", "test", "typecheck"]);
    const explain: string[] = parent["preview-unavailable"].script;
    expect(explain.join("\n")).toMatch(/gets no protected variables/);
    expect(explain.join("\n")).toMatch(/protected wildcard/);
  });

  it("a push to main checks, then deploys and verifies the automatic stacks, and blocks on the manual ones after them (a failed one fails the pipeline)", () => {
    expect(running(main)).toEqual(["lint", "stack-pipeline", "stacks-deploy", "test", "typecheck"]);
    expect(main.find((j) => j.name === "stacks-deploy")!.needs!.map((n) => n.job).sort()).toEqual(["lint", "stack-pipeline", "test", "typecheck"]);
    expect(running(mainChild)).toEqual(sorted(STACKS.map((s) => `deploy-${s.stack}`)));
    for (const s of AUTOMATIC) expect(mainChild.find((j) => j.name === `deploy-${s}`)).toMatchObject({ when: "on_success", needs: [] });
    for (const s of MANUAL) {
      const j = mainChild.find((x) => x.name === `deploy-${s}`)!;
      expect([j.when, j.allow_failure]).toEqual(["manual", false]);
      expect(j.needs!.map((n) => [n.job, n.artifacts])).toEqual(AUTOMATIC.map((a) => [`deploy-${a}`, false]));
    }
  });

  it("a schedule runs the drift check and the restore drill of every stack, and nothing else", () => {
    expect(running(schedule)).toEqual(["stack-pipeline", "stacks"]);
    expect(running(scheduleChild)).toEqual(sorted(STACKS.flatMap((s) => [`drift-${s.stack}`, `drill-${s.stack}`])));
  });

  it("a push to main that changes anything the backup image copies builds and pushes it after the checks; other changes, MRs and schedules do not", () => {
    for (const changed of ["backup/Dockerfile", "backup/drill.ts", "model/naming.ts", "host/exec.ts"]) {
      const jobs = listJobs({ ".gitlab-ci.yml": readFileSync(CI_FILE, "utf8") }, { ...MAIN, PO_PROTECTED_PIPELINE: "true" }, { [changed]: "changed\n" });
      expect(running(jobs)).toContain("backup-image");
      expect(jobs.find((j) => j.name === "backup-image")!.needs!.map((n) => n.job).sort()).toEqual(["lint", "test", "typecheck"]);
    }
    expect(running(listJobs({ ".gitlab-ci.yml": readFileSync(CI_FILE, "utf8") }, { ...MAIN, PO_PROTECTED_PIPELINE: "true" }, { "docs/backups.md": "changed\n" }))).not.toContain("backup-image");
    expect(running(mrProtected)).not.toContain("backup-image");
    expect(running(schedule)).not.toContain("backup-image");
    const copied = [...readFileSync(join(ROOT, "backup", "Dockerfile"), "utf8").matchAll(/^COPY (.+) \S+$/gm)].flatMap((m) => m[1].split(/\s+/));
    const watched = parent["backup-image"].rules[0].changes as string[];
    for (const source of copied) expect(watched).toContain(existsSync(join(ROOT, source)) && statSync(join(ROOT, source)).isDirectory() ? `${source}/**/*` : source);
  });

  it("a push to another branch runs nothing", () => expect(running(branch)).toEqual([]));

  it("a release request (a trigger token's pipeline on main) runs the release-request job alone; on another ref, nothing", () => {
    expect(running(parentJobs({ CI_PIPELINE_SOURCE: "trigger", CI_COMMIT_BRANCH: "main", CI_DEFAULT_BRANCH: "main", PO_PROTECTED_PIPELINE: "true" }))).toEqual(["release-request"]);
    expect(running(parentJobs({ CI_PIPELINE_SOURCE: "trigger", CI_COMMIT_BRANCH: "infra/x", CI_DEFAULT_BRANCH: "main", PO_PROTECTED_PIPELINE: "true" }))).toEqual([]);
    // Every release of every application project holds one lock; the request reaches the job as inputs only.
    expect(parent["release-request"].resource_group).toBe(RELEASE_RESOURCE_GROUP);
    for (const value of Object.values(parent["release-request"].variables as Record<string, string>)) expect(value).toMatch(/^\$\[\[ inputs\.release_[a-z_]+ \]\]$/);
  }, 60000);

  it("gitlab-ci-local's schema check would catch a broken file (so the lists above come from valid ones)", () => {
    const broken = readFileSync(CI_FILE, "utf8").replace(/^(\s+strategy:) (\w+)$/m, "$1 [$2]");
    expect(() => parentJobs(MAIN, broken)).toThrow(/strategy/);
  });

  it("a third stack file reaches every pipeline without a line of CI changed", () => {
    const project = mkdtempSync(join(tmpdir(), "third-stack-"));
    try {
      const files = readdirSync(ROOT).filter((f) => /^Pulumi(\..+)?\.yaml$/.test(f));
      for (const f of files) copyFileSync(join(ROOT, f), join(project, f));
      // A name no stack file of this project has yet, so the test holds in a copy that already has a third stack.
      const third = ["demo", "extra", "third", "fourth"].find((name) => !files.includes(`Pulumi.${name}.yaml`))!;
      writeFileSync(
        join(project, `Pulumi.${third}.yaml`),
        `config:\n  gitlab:environment: ${third}\n  gitlab:deploy: automatic\n  portugal-odyssey:domain: ${third}.portugalodyssey.pt\n`,
      );
      expect(running(childJobs("merge_request_event", project))).toContain(`preview-${third}`);
      const deploys = childJobs("push", project);
      expect(deploys.find((j) => j.name === `deploy-${third}`)).toMatchObject({ when: "on_success" });
      for (const s of MANUAL) expect(deploys.find((j) => j.name === `deploy-${s}`)!.needs!.map((n) => n.job)).toContain(`deploy-${third}`);
      expect(running(childJobs("schedule", project))).toEqual(expect.arrayContaining([`drift-${third}`, `drill-${third}`]));
    } finally {
      rmSync(project, { recursive: true, force: true });
    }
  }, 60000);
});

/** The jobs of a child file (templates merged in): every top-level key but hidden ones and the global keywords. */
const childJobNames = (child: Record<string, Job>) => Object.keys(child).filter((n) => !n.startsWith(".") && !["include", "default", "workflow", "stages", "variables"].includes(n));

/** A job with its `extends` chain merged in, as GitLab does (hashes deep-merged, everything else replaced). */
function resolve(jobs: Record<string, Job>, name: string): Job {
  const job = jobs[name];
  const bases = ([] as string[]).concat(job.extends ?? []);
  const merge = (a: Job, b: Job): Job => {
    const out: Job = { ...a };
    for (const [k, v] of Object.entries(b)) out[k] = v && typeof v === "object" && !Array.isArray(v) && a[k] && typeof a[k] === "object" && !Array.isArray(a[k]) ? merge(a[k], v) : v;
    return out;
  };
  return bases.reduce((acc, base) => merge(resolve(jobs, base), acc), { ...job, extends: undefined } as Job);
}

/** The credentials GitLab hands a job: a variable reaches it when its scope is `*` or matches the job's environment name (wildcards allowed). */
function credentialsOf(job: Job, scopes: Map<string, string[]>): string[] {
  const environment: string | undefined = typeof job.environment === "string" ? job.environment : job.environment?.name;
  const matches = (scope: string) => scope === "*" || (environment !== undefined && new RegExp(`^${scope.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`).test(environment));
  return [...scopes].filter(([, s]) => s.some(matches)).map(([key]) => key);
}

describe("secrets only where needed: the scopes gitlab:setup sets, applied to every job", () => {
  const scopes = desiredScopes(STACKS);
  const everyJob = () => {
    const out: Array<[string, Job]> = [];
    for (const [name, j] of Object.entries(parent)) if (!name.startsWith(".") && typeof j === "object" && j && "stage" in j) out.push([name, resolve(parent, name)]);
    for (const event of ["merge_request_event", "push", "schedule"] as const) {
      const child = { ...templates, ...(parse(renderStackPipeline(event, ROOT)) as Record<string, Job>) };
      for (const name of childJobNames(child)) out.push([name, resolve(child, name)]);
    }
    return out;
  };

  it("lint, typecheck and test (and every other parent job but backup-image and release-request) receive no credential at all", () => {
    const withCredentials = new Set(["backup-image", "release-request"]);
    for (const [name, j] of everyJob().filter(([n]) => n in parent && !withCredentials.has(n))) expect({ name, credentials: credentialsOf(j, scopes) }).toEqual({ name, credentials: [] });
    for (const name of ["lint", "typecheck", "test"]) expect(parent[name].environment).toBeUndefined();
  });

  it("the registry login reaches backup-image alone, through an environment of its own (variables can be scoped only to environments)", () => {
    const holders = everyJob().filter(([, j]) => BACKUP_REGISTRY_CREDENTIALS.some((k) => credentialsOf(j, scopes).includes(k)));
    expect(holders.map(([n]) => n)).toEqual(["backup-image"]);
    expect(parent["backup-image"].environment).toEqual({ name: BACKUP_REGISTRY_ENVIRONMENT, action: "access" });
    expect(credentialsOf(resolve(parent, "backup-image"), scopes).sort()).toEqual([...BACKUP_REGISTRY_CREDENTIALS].sort());
    const script = (parent["backup-image"].script as string[]).join("\n");
    for (const key of BACKUP_REGISTRY_CREDENTIALS) expect(script).toContain(key);
  });

  it("every environment a job names is one gitlab:setup knows, and every one holding a credential to the shared host is protected", () => {
    const plan = environmentPlan(STACKS);
    const named = new Set(everyJob().map(([, j]) => j.environment?.name).filter(Boolean));
    expect([...named].sort()).toEqual(plan.map((e) => e.name).sort());
    for (const env of plan.filter((e) => e.credentials.includes("SSH_PRIVATE_KEY"))) expect({ env: env.name, protect: env.protect }).toEqual({ env: env.name, protect: true });
    expect(plan.filter((e) => e.credentials.includes("SSH_PRIVATE_KEY")).map((e) => e.name).sort()).toEqual(STACKS.map((s) => s.environment).sort());
  });

  it("every preview, deploy and drift job receives the deploy credentials of its own stack's environment", () => {
    const stackJobs = everyJob().filter(([n]) => /^(preview|deploy|drift)-/.test(n) && n !== "preview-summary" && !(n in parent));
    expect(stackJobs).toHaveLength(STACKS.length * 3);
    for (const [name, j] of stackJobs) {
      expect({ name, credentials: credentialsOf(j, scopes).sort() }).toEqual({ name, credentials: [...DEPLOY_CREDENTIALS].sort() });
      expect(j.environment.name).toBe(STACKS.find((s) => name.endsWith(`-${s.stack}`))!.environment);
    }
  });

  it("previews and drift checks declare their environment with action prepare: they get the variables without counting as deployments", () => {
    for (const [name, j] of everyJob().filter(([n]) => /^(preview|drift)-/.test(n) && n !== "preview-summary" && !(n in parent))) expect({ name, action: j.environment.action }).toEqual({ name, action: "prepare" });
    for (const [name, j] of everyJob().filter(([n]) => n.startsWith("deploy-"))) expect({ name, action: j.environment.action }).toEqual({ name, action: undefined });
  });

  it("every restore drill receives its own stack's environment credentials, declared with action verify so it never counts as a deployment", () => {
    const drills = everyJob().filter(([n]) => n.startsWith("drill-"));
    expect(drills.map(([n]) => n)).toEqual(STACKS.map((s) => `drill-${s.stack}`));
    for (const [name, j] of drills) {
      const stack = STACKS.find((s) => name === `drill-${s.stack}`)!;
      expect({ name, environment: j.environment, credentials: credentialsOf(j, scopes).sort() }).toEqual({
        name,
        environment: { name: stack.environment, action: "verify" },
        credentials: [...DEPLOY_CREDENTIALS].sort(),
      });
    }
  });

  it("release-request receives the release credentials and nothing else; no other job receives them", () => {
    const [, release] = everyJob().find(([n]) => n === "release-request")!;
    expect(release.environment.name).toBe(RELEASE_ENVIRONMENT);
    expect(credentialsOf(release, scopes).sort()).toEqual([...RELEASE_CREDENTIALS].sort());
    for (const [name, j] of everyJob().filter(([n]) => n !== "release-request")) {
      expect({ name, release: credentialsOf(j, scopes).filter((c) => (RELEASE_CREDENTIALS as readonly string[]).includes(c)) }).toEqual({ name, release: [] });
    }
  });

  it("the summary receives only the token that posts the note", () => {
    const [, summary] = everyJob().find(([n]) => n === "preview-summary")!;
    expect(credentialsOf(summary, scopes)).toEqual([NOTES_TOKEN]);
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
    const exitFile = join(dir, "preview-prod.exit");
    const recordedExit = existsSync(exitFile) ? readFileSync(exitFile, "utf8").trim() : undefined;
    return { code: run.status, calls, recordedExit, ran: (what: string) => calls.some((c) => c.includes(what)) };
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
    const run = runScript(templates[".preview"].script, preview, digest, gate);
    expect(run.code).toBe(code);
    // The summary job reads the preview's own exit code from this artifact.
    expect(run.recordedExit).toBe(String(preview));
    expect(templates[".preview"].artifacts.paths).toContain("preview-$STACK.exit");
    expect(run.ran("data-safety-gate.ts --stack prod preview-prod.json")).toBe(gated);
  });

  it.each([
    ["a refused preview whose digest the gate blocks", 255, true, 1],
    ["a refused preview the gate lets through", 255, true, 0],
    ["a clean preview the gate blocks", 0, true, 1],
  ])("a deploy names the data in %s, then stops before pulumi up", (_what, preview, digest, gate) => {
    const run = runScript(templates[".deploy"].script, preview, digest, gate);
    expect(run.code).not.toBe(0);
    expect(run.ran("data-safety-gate.ts --stack prod preview-prod.json")).toBe(true);
    expect(run.ran("npm run up")).toBe(false);
    expect(run.ran("npm run verify")).toBe(false);
  });

  it("a deploy gates, deploys, writes the outputs, verifies and checks it settled, in that order, in one job", () => {
    const run = runScript(templates[".deploy"].script, 0, true, 0);
    expect(run.code).toBe(0);
    expect(run.calls.filter((c) => c.startsWith("npm"))).toEqual([
      "npm run preview -- --stack prod --json-out preview-prod.json",
      "npm run up -- --stack prod --settled-later",
      "npm run outputs -- --stack prod --out outputs-prod.json",
      "npm run outputs -- --stack prod --dotenv --out deploy-prod.env",
      "npm run prune-images",
      "npm run verify -- --stack prod --outputs outputs-prod.json --json-out verify-prod.json",
      "npm run settled -- --stack prod",
    ]);
  });
});

/**
 * GitLab's `rules:if` expressions, as far as these files use them: `$VAR` (defined and not empty),
 * `$VAR == "x"`, `$VAR != "x"`, `$A == $B`, joined by && and || (docs.gitlab.com/ci/jobs/job_rules/,
 * "CI/CD variable expressions"). Anything else throws, so a new construct is noticed, never misjudged.
 */
function gitlabIf(expression: string, vars: Record<string, string>): boolean {
  const operand = (o: string) => {
    if (/^\$\w+$/.test(o)) return vars[o.slice(1)];
    const quoted = /^(["'])(.*)\1$/.exec(o);
    if (quoted) return quoted[2];
    throw new Error(`rules:if operand not modelled: ${o}`);
  };
  const term = (t: string) => {
    const cmp = /^(\S+)\s*(==|!=)\s*(\S+)$/.exec(t);
    if (cmp) return (operand(cmp[1]) === operand(cmp[3])) === (cmp[2] === "==");
    if (/^\$\w+$/.test(t)) return Boolean(vars[t.slice(1)]);
    throw new Error(`rules:if term not modelled: ${t}`);
  };
  return expression.split("||").some((or) => or.split("&&").every((and) => term(and.trim())));
}

/**
 * Whether GitLab creates a job of a pipeline file. The workflow's first matching rule decides whether there is
 * a pipeline at all; a job's own rules decide for it. A job with neither job rules nor workflow:rules keeps
 * GitLab's default `only: [branches, tags]` (Gitlab::Ci::Config::Entry::Processable#compose!, gitlab!21742),
 * which a merge request's child pipeline does not meet: it carries the merge request (gitlab!23884), so
 * `Ci::Pipeline#branch?` is false. `only`/`except`, `changes` and `exists` are not modelled: they throw.
 */
function gitlabCreates(file: Record<string, Job>, name: string, vars: Record<string, string>, branchOrTag: boolean): boolean {
  const firstMatch = (rules: Job[]) =>
    rules.find((r) => {
      if (r.changes || r.exists) throw new Error("rules:changes/exists not modelled");
      return r.if === undefined || gitlabIf(r.if, vars);
    });
  const workflow = file.workflow?.rules as Job[] | undefined;
  if (workflow) {
    const rule = firstMatch(workflow);
    if (!rule || rule.when === "never") return false;
  }
  const job = resolve(file, name);
  if (job.only || job.except) throw new Error(`${name}: only/except not modelled`);
  if (job.rules) {
    const rule = firstMatch(job.rules);
    return rule !== undefined && rule.when !== "never";
  }
  return workflow !== undefined || branchOrTag;
}

describe("GitLab's own rules for the generated child pipeline (not gitlab-ci-local's)", () => {
  const child = (event: PipelineEvent, withWorkflow = true) => {
    const generated = parse(renderStackPipeline(event, ROOT)) as Record<string, Job>;
    if (!withWorkflow) delete generated.workflow;
    return { ...templates, ...generated };
  };
  /** A merge request's child is no branch pipeline (gitlab!23884); a push's or a schedule's child runs on main. */
  const branchOrTag: Record<PipelineEvent, boolean> = { merge_request_event: false, push: true, schedule: true };

  it.each(EVENTS.map((e) => [e]))("GitLab creates every job of the child of a %s pipeline (docs: Run child pipelines with merge request pipelines)", (event) => {
    const file = child(event);
    const jobs = childJobNames(file);
    expect(jobs.length).toBeGreaterThanOrEqual(STACKS.length);
    for (const name of jobs) expect({ name, created: gitlabCreates(file, name, CHILD_OF[event], branchOrTag[event]) }).toEqual({ name, created: true });
  });

  it("without the child's workflow:rules, a merge request's child would get no job at all and fail its trigger (gitlab#322012); push and schedule children would not notice", () => {
    const mr = child("merge_request_event", false);
    expect(childJobNames(mr).filter((n) => gitlabCreates(mr, n, CHILD_OF.merge_request_event, false))).toEqual([]);
    for (const event of ["push", "schedule"] as const) {
      const file = child(event, false);
      expect(childJobNames(file).every((n) => gitlabCreates(file, n, CHILD_OF[event], true))).toBe(true);
    }
  });

  it("the child's workflow holds in a child pipeline only, so the generated file never runs as a pipeline of its own", () => {
    const file = child("push");
    expect(gitlabCreates(file, childJobNames(file)[0], { CI_PIPELINE_SOURCE: "push", CI_COMMIT_BRANCH: "main" }, true)).toBe(false);
  });
});

describe("GitLab's own rules for the parent pipeline agree with gitlab-ci-local's listing", () => {
  const parentJobNames = Object.keys(parent).filter((n) => !n.startsWith(".") && typeof parent[n] === "object" && parent[n] && "stage" in parent[n]);
  // backup-image also depends on `rules:changes`, which the model leaves out; its listing is tested above.
  const modelled = parentJobNames.filter((n) => n !== "backup-image");
  it.each([
    ["a merge request from a protected branch", { ...MR, PO_PROTECTED_PIPELINE: "true" }, false],
    ["a merge request without protected variables", MR, false],
    ["a push to main", { ...MAIN, PO_PROTECTED_PIPELINE: "true" }, true],
    ["a schedule", { CI_PIPELINE_SOURCE: "schedule", CI_COMMIT_BRANCH: "main", CI_DEFAULT_BRANCH: "main", PO_PROTECTED_PIPELINE: "true" }, true],
    ["a push to another branch", { CI_PIPELINE_SOURCE: "push", CI_COMMIT_BRANCH: "feature/x", CI_DEFAULT_BRANCH: "main" }, true],
  ] as const)("%s", (_what, vars, branchOrTag) => {
    const byGitlab = modelled.filter((n) => gitlabCreates(parent, n, vars, branchOrTag)).sort();
    const byGcl = running(parentJobs(vars)).filter((n) => modelled.includes(n));
    expect(byGitlab).toEqual(byGcl);
  }, 60000);
});

describe("who runs what: previews and manual deploys wait for a person, and the pipeline shows it", () => {
  it("every preview is a blocking manual job on its stack's environment: a deployer starts it after reading the change", () => {
    const mr = parse(renderStackPipeline("merge_request_event", ROOT)) as Record<string, Job>;
    for (const s of STACKS) expect(mr[`preview-${s.stack}`]).toMatchObject({ when: "manual", allow_failure: false, environment: { name: s.environment } });
  });

  /**
   * The status GitLab gives a trigger job from its child pipeline's, per `trigger:strategy`
   * (Ci::Bridge#inherit_mirrored_status_from_downstream! and #inherit_dependent_status_from_downstream!). A child
   * status missing from a row leaves the trigger job as it was: `running`. A child waiting on a blocking manual job
   * has status `manual` (docs.gitlab.com/ci/yaml/#triggerstrategy: with `depend` "the trigger job shows running").
   */
  const TRIGGER_STATUS: Record<string, Record<string, string>> = {
    mirror: { success: "success", failed: "failed", canceled: "canceled", manual: "manual", skipped: "skipped" },
    depend: { success: "success", failed: "failed", canceled: "canceled", skipped: "failed" },
  };

  it("while a child waits for a person, its trigger job and so the parent pipeline show it blocked, not running, and end as the child ends (gitlab#450849)", () => {
    for (const trigger of ["stacks", "stacks-deploy"]) {
      const mapping = TRIGGER_STATUS[parent[trigger].trigger.strategy];
      expect({ trigger, waiting: mapping?.manual, failed: mapping?.failed, passed: mapping?.success }).toEqual({ trigger, waiting: "manual", failed: "failed", passed: "success" });
    }
  });

  it("a manual stack's deploy blocks main's pipeline until it runs, and fails it when it fails; automatic ones run at once", () => {
    const push = parse(renderStackPipeline("push", ROOT)) as Record<string, Job>;
    expect(MANUAL.length + AUTOMATIC.length).toBe(STACKS.length);
    for (const s of MANUAL) expect(push[`deploy-${s}`]).toMatchObject({ when: "manual", allow_failure: false });
    for (const s of AUTOMATIC) expect([push[`deploy-${s}`].when, push[`deploy-${s}`].allow_failure]).toEqual([undefined, undefined]);
  });
});

describe("structure", () => {
  const allFiles = () => ({ ...parent, ...templates });

  it("only creates pipelines for merge requests, schedules, the default branch and release requests on it", () => {
    expect(parent.workflow.rules.map((r: Job) => r.if ?? `when:${r.when}`)).toEqual([
      '$CI_PIPELINE_SOURCE == "merge_request_event"',
      '$CI_PIPELINE_SOURCE == "schedule"',
      '$CI_PIPELINE_SOURCE == "push" && $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH',
      '$CI_PIPELINE_SOURCE == "trigger" && $CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH',
      "when:never",
    ]);
  });

  it("deploys, drift checks and restore drills of a stack hold the stack's resource group, so none runs beside another deploy of it", () => {
    const push = parse(renderStackPipeline("push", ROOT)) as Record<string, Job>;
    const schedule = parse(renderStackPipeline("schedule", ROOT)) as Record<string, Job>;
    for (const s of STACKS) {
      expect(push[`deploy-${s.stack}`].resource_group).toBe(s.stack);
      expect(schedule[`drift-${s.stack}`].resource_group).toBe(s.stack);
      expect(schedule[`drill-${s.stack}`].resource_group).toBe(s.stack);
    }
  });

  it("the drill job runs the drill for its stack, keeps its result even when it fails, and lets its exit code fail the job", () => {
    const drill = resolve(templates, ".drill");
    expect(drill.script.at(-1)).toBe('npm run drill -- --stack "$STACK" --out "drill-$STACK.json"');
    expect(drill.allow_failure).toBeUndefined();
    expect(drill.artifacts).toMatchObject({ when: "always", access: "developer", paths: ["drill-$STACK.json"] });
    expect(names.drillResultFile("prod")).toBe(drill.artifacts.paths[0].replace("$STACK", "prod"));
  });

  it("no verify job of its own: verify runs inside the deploy, after up and the outputs; the settled check last, after verify", () => {
    const script: string[] = templates[".deploy"].script;
    expect(script.at(-2)).toBe('npm run verify -- --stack "$STACK" --outputs "outputs-$STACK.json" --json-out "verify-$STACK.json"');
    expect(script.at(-1)).toBe('npm run settled -- --stack "$STACK"');
    expect(script.indexOf('npm run up -- --stack "$STACK"')).toBeLessThan(script.indexOf('npm run outputs -- --stack "$STACK" --out "outputs-$STACK.json"'));
    expect(Object.keys(parse(renderStackPipeline("push", ROOT))).filter((n) => n.startsWith("verify"))).toEqual([]);
  });

  it("the deploy prunes old app images after up and the outputs, and a failed prune does not fail the deploy", () => {
    const script: string[] = templates[".deploy"].script;
    const prune = script.findIndex((l) => l.startsWith("npm run prune-images"));
    expect(prune).toBeGreaterThan(script.indexOf('npm run outputs -- --stack "$STACK" --dotenv --out "deploy-$STACK.env"'));
    const run = spawnSync("bash", ["-e", "-c", `npm() { return 1; }\n${script[prune]}\necho after`], { encoding: "utf8" });
    expect(run.status).toBe(0);
    expect(run.stdout).toContain("after");
  });

  it("keeps every preview, drift, drill, outputs and verify document as an artifact only developers can open", () => {
    const documents = /^(preview|drift|drill|outputs|verify)-[^/]+\.json$/;
    const holders = Object.entries(allFiles())
      .filter(([, j]) => (j?.artifacts?.paths ?? []).some((p: string) => documents.test(p)))
      .map(([name, j]) => [name, j.artifacts.access]);
    expect(holders).toEqual([
      [".preview", "developer"],
      [".deploy", "developer"],
      [".drift", "developer"],
      [".drill", "developer"],
    ]);
  });

  it("the drift job has the full history, for the behind-main commit count", () => expect(templates[".drift"].variables.GIT_DEPTH).toBe("0"));

  it("sets transpile-only, keeps PULUMI_HOME in the project and caches node_modules and plugins by package-lock.json", () => {
    expect(parent.variables.PULUMI_NODEJS_TRANSPILE_ONLY).toBe("true");
    // Defined in the child, where the runner expands it; every Pulumi job extends .pulumi.
    expect(templates[".pulumi"].variables.PULUMI_HOME).toBe("$CI_PROJECT_DIR/.pulumi-home");
    for (const name of [".preview", ".deploy", ".drift", ".drill"]) expect(resolve(templates, name).variables.PULUMI_HOME).toBe("$CI_PROJECT_DIR/.pulumi-home");
    expect(templates[".pulumi"].cache).toEqual([
      { key: { prefix: "node-modules", files: ["package-lock.json"] }, paths: ["node_modules/"] },
      { key: { prefix: "pulumi-plugins", files: ["package-lock.json"] }, paths: [".pulumi-home/plugins/"] },
    ]);
  });

  it("forwards to the child only variables GitLab can expand when the trigger fires: none names a runner-set variable such as CI_PROJECT_DIR (gitlab#424555)", () => {
    for (const trigger of ["stacks", "stacks-deploy"]) expect(parent[trigger].trigger.forward.yaml_variables).toBe(true);
    const forwarded = parent.variables as Record<string, string>;
    expect(forwarded.PULUMI_HOME).toBeUndefined();
    for (const [key, value] of Object.entries(forwarded)) {
      // Only references to other variables of this same block, which GitLab knows when the trigger fires.
      const references = [...String(value).matchAll(/\$\{?([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]);
      expect({ key, unknown: references.filter((r) => !(r in forwarded)) }).toEqual({ key, unknown: [] });
    }
  });

  it("loads the SSH key and known_hosts from file variables into an ssh-agent in every Pulumi job", () => {
    const before: string[] = templates[".pulumi"].before_script;
    expect(before).toContain('eval "$(ssh-agent -s)" >/dev/null');
    expect(before.some((l) => l.includes('< "$SSH_PRIVATE_KEY" | ssh-add -'))).toBe(true);
    for (const name of [".preview", ".deploy", ".drift"]) expect(templates[name].extends).toBe(".pulumi");
  });

  it("installs the docker CLI only in deploys, which run the edge attachment's docker network connect", () => {
    expect(templates[".deploy"].variables.PO_NEEDS_DOCKER_CLI).toBe("true");
    for (const name of [".preview", ".drift"]) expect(templates[name].variables?.PO_NEEDS_DOCKER_CLI).toBeUndefined();
  });

  it("never sets a secret in either file", () => {
    for (const doc of [parent, templates]) {
      for (const key of [...DEPLOY_CREDENTIALS, NOTES_TOKEN, "DOCKER_HOST"]) expect(doc.variables ?? {}).not.toHaveProperty(key);
    }
  });

  it("points only the Pulumi jobs at the shared host, and runs the tests as make test does, on an engine the job starts itself", () => {
    expect(templates[".pulumi"].before_script).toContain('export DOCKER_HOST="$DEPLOY_DOCKER_HOST"');
    const naming = Object.entries(allFiles())
      .filter(([, j]) => typeof j === "object" && j !== null && !Array.isArray(j))
      .filter(([, j]) => JSON.stringify({ ...j, extends: undefined }).includes("DEPLOY_DOCKER_HOST"))
      .map(([name]) => name);
    expect(naming).toEqual([".pulumi"]);
    // .ci/docker.sh starts the job's own engine only while DOCKER_HOST is unset; a service engine would not share the job's network.
    expect(parent.test.variables?.DOCKER_HOST).toBeUndefined();
    expect(parent.test.services).toBeUndefined();
    expect(parent.test.script.at(-1)).toBe("make test");
  });

  it("no command prints a secret: no --show-secrets, no set -x, no echo of a secret variable, no debug trace", () => {
    const commands = Object.values(allFiles())
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
    for (const file of [CI_FILE, join(ROOT, TEMPLATES)]) expect(readFileSync(file, "utf8")).not.toMatch(/CI_DEBUG_TRACE/);
  });
});
