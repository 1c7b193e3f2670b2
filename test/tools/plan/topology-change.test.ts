import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildSummaryMarkdown, type FetchLike, main } from "../../../tools/ci/post-preview-summary";
import { stackPipeline } from "../../../tools/ci/stack-pipeline";
import { allStackCiSettings } from "../../../config/gitlab-settings";
import { planFromStackFiles } from "../../../tools/plan";
import { mermaidBlock } from "../../../tools/plan/mermaid";
import { changedTopologies, topologyBlockName } from "../../../tools/docs";
import { fixtureProject, type FixtureProject } from "./fixture-project";

const ROOT = join(__dirname, "..", "..", "..");
let project: FixtureProject;

beforeAll(() => {
  project = fixtureProject({
    alpha: { "portugal-odyssey:domain": "alpha.example.test" },
    beta: { "portugal-odyssey:domain": "beta.example.test" },
  });
});
afterAll(() => project.remove());

const diagramOf = (stack: string) => mermaidBlock(planFromStackFiles(project.dir, stack).plan);
const planDoc = (blocks: Record<string, string>) =>
  Object.entries(blocks)
    .map(([stack, body]) => `### ${stack}\n\n<!-- generated:${topologyBlockName(stack)} -->\n${body}\n<!-- /generated:${topologyBlockName(stack)} -->\n`)
    .join("\n");

describe("changedTopologies", () => {
  test("is empty when the target branch documents the same diagrams", () => {
    expect(changedTopologies(["alpha", "beta"], project.dir, planDoc({ alpha: diagramOf("alpha"), beta: diagramOf("beta") }))).toEqual([]);
  });

  test("returns this commit's diagram of each stack whose topology differs from, or is missing in, the target's", () => {
    const target = planDoc({ alpha: diagramOf("alpha").replace(/\n.*-\.->.*$/m, "") });
    expect(changedTopologies(["alpha", "beta"], project.dir, target)).toEqual([
      { stack: "alpha", diagram: diagramOf("alpha") },
      { stack: "beta", diagram: diagramOf("beta") },
    ]);
  });

  test("leaves out a stack that does not plan: its preview reports why", () => {
    expect(changedTopologies(["nope"], project.dir, "")).toEqual([]);
  });
});

describe("the merge-request summary", () => {
  test("shows the diagram of each stack whose topology changes, and no diagram otherwise", () => {
    const changed = buildSummaryMarkdown([{ stack: "alpha", missing: "x" }], { topologies: [{ stack: "alpha", diagram: diagramOf("alpha") }] });
    expect(changed).toContain(`<summary>alpha: the topology changes</summary>\n\n${diagramOf("alpha")}\n\n</details>`);
    expect(buildSummaryMarkdown([{ stack: "alpha", missing: "x" }], { topologies: [] })).not.toContain("```mermaid");
  });

  test("compares against the file named in PO_TOPOLOGY_BASE, and without one draws nothing", async () => {
    const posted: string[] = [];
    const fetchFn: FetchLike = async (_url, init = {}) => {
      if (init.body) posted.push(JSON.parse(init.body).body);
      return { ok: true, status: 200, headers: { get: () => null }, json: async () => (init.method === "POST" ? { id: 1 } : []), text: async () => "" };
    };
    const env = { CI_API_V4_URL: "https://gitlab.example.test/api/v4", CI_PROJECT_ID: "1", CI_MERGE_REQUEST_IID: "2", GITLAB_API_TOKEN: "t" };
    const base = join(project.dir, "topology-base.md");
    writeFileSync(base, planDoc({ alpha: diagramOf("alpha") }));
    jest.spyOn(console, "log").mockImplementation(() => undefined);
    try {
      await main(["alpha=missing-alpha.json", "beta=missing-beta.json"], { ...env, PO_TOPOLOGY_BASE: base }, fetchFn, project.dir);
      await main(["alpha=missing-alpha.json", "beta=missing-beta.json"], env, fetchFn, project.dir);
    } finally {
      jest.restoreAllMocks();
    }
    expect(posted[0]).toContain("beta: the topology changes");
    expect(posted[0]).not.toContain("alpha: the topology changes");
    expect(posted[1]).not.toContain("the topology changes");
  });
});

describe("the preview-summary job's fetch of the target branch's docs/plan.md", () => {
  const job = (stackPipeline("merge_request_event", allStackCiSettings(ROOT)) as Record<string, { script: string[]; variables: Record<string, string> }>)[
    "preview-summary"
  ];
  const fetchLine = job.script.find((l) => l.includes("PO_TOPOLOGY_BASE"))!;

  test("runs before the summary, naming its file in PO_TOPOLOGY_BASE", () => {
    expect(job.script.indexOf(fetchLine)).toBe(job.script.length - 2);
    expect(job.variables.PO_TOPOLOGY_BASE).toBeTruthy();
  });
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "po-topology-base-"));
    const git = (cwd: string, ...args: string[]) => execFileSync("git", ["-c", "user.email=t@t", "-c", "user.name=t", ...args], { cwd, stdio: "pipe" });
    mkdirSync(join(dir, "origin", "docs"), { recursive: true });
    git(join(dir, "origin"), "init", "-q", "-b", "main");
    writeFileSync(join(dir, "origin", "docs", "plan.md"), "the target's diagrams\n");
    git(join(dir, "origin"), "add", "-A");
    git(join(dir, "origin"), "commit", "-qm", "target");
    git(dir, "clone", "-q", join(dir, "origin"), "mr");
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const runLine = (branch: string) =>
    spawnSync("bash", ["-e", "-c", fetchLine], {
      cwd: join(dir, "mr"),
      env: { PATH: process.env.PATH, HOME: dir, CI_MERGE_REQUEST_TARGET_BRANCH_NAME: branch, PO_TOPOLOGY_BASE: job.variables.PO_TOPOLOGY_BASE },
      encoding: "utf8",
    });

  test("writes the target branch's file where PO_TOPOLOGY_BASE says", () => {
    expect(runLine("main").status).toBe(0);
    expect(readFileSync(join(dir, "mr", job.variables.PO_TOPOLOGY_BASE), "utf8")).toBe("the target's diagrams\n");
  });

  test("leaves no file, and does not fail the job, when the target branch cannot be fetched", () => {
    expect(runLine("no-such-branch").status).toBe(0);
    expect(existsSync(join(dir, "mr", job.variables.PO_TOPOLOGY_BASE))).toBe(false);
  });
});
